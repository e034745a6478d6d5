// How an emulator hosts the e1000 with tslirp (the README example; typechecked, not run: the
// `emulator` object stands for the host emulator's own PCI bus, RAM and interrupt controller).
import { attachE1000 } from "../../../src/index.ts"
import { NodeStack } from "../../../src/node.ts"

declare const emulator: {
  ram: Uint8Array
  setIrq(line: number, level: boolean): void
  pci: { addDevice(d: { configRead(o: number, s: 1 | 2 | 4): number; configWrite(o: number, s: 1 | 2 | 4, v: number): void }): void }
  onBarMapped(bar: number, handler: { read(o: number, s: 1 | 2 | 4): number; write(o: number, s: 1 | 2 | 4, v: number): void }): void
}
const { ram } = emulator

const nic = attachE1000({
  mac: "52:54:00:12:34:56",
  memory: { read: (addr, len) => ram.subarray(addr, addr + len), write: (addr, data) => ram.set(data, addr) },
  onIrq: (level) => emulator.setIrq(11, level), // INTA#, level-triggered
  link: new NodeStack(), // tslirp in this process; or: await connectStreamLink({ path: "/tmp/tslirp.sock" })
})
emulator.pci.addDevice({ configRead: nic.configRead, configWrite: nic.configWrite })
emulator.onBarMapped(0, { read: nic.mmioRead, write: nic.mmioWrite }) // BAR0: 128 KiB MMIO
emulator.onBarMapped(1, { read: nic.ioRead, write: nic.ioWrite }) // BAR1: 64-byte I/O (stub)
// With a virtual clock instead of host timers: attachE1000({ ..., nowNs: () => cpu.ns }), then
// in the main loop: if (cpu.ns >= (nic.nextDeadlineNs() ?? Infinity)) nic.advanceTo(cpu.ns)
// On shutdown: nic.close() (closes the stack and its host sockets)
