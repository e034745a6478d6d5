/**
 * The Node runtime's source of stack seeds: the operating system's CSPRNG, so ISNs, IP ids and
 * ports differ per stack instance and cannot be predicted by a guest or a remote host.
 */
import { randomInt } from "node:crypto"

/** A uniformly random 32-bit seed (`randomInt`'s upper bound is exclusive). */
export const randomSeed = (): number => randomInt(0, 2 ** 32 - 1)
