/**
 * 82540EM register word indices (byte offset / 4) and bit names, from the 8254x Software
 * Developer's Manual and as QEMU 7.2 uses them. Data only.
 */

// General
export const CTRL = 0x0000 >> 2
export const STATUS = 0x0008 >> 2
export const EECD = 0x0010 >> 2
export const EERD = 0x0014 >> 2
export const MDIC = 0x0020 >> 2
export const VET = 0x0038 >> 2
export const ICR = 0x00c0 >> 2
export const ITR = 0x00c4 >> 2
export const ICS = 0x00c8 >> 2
export const IMS = 0x00d0 >> 2
export const IMC = 0x00d8 >> 2
export const RCTL = 0x0100 >> 2
export const TCTL = 0x0400 >> 2
export const AIT = 0x0458 >> 2
export const LEDCTL = 0x0e00 >> 2
export const PBA = 0x1000 >> 2
// Receive
export const RDFH = 0x2410 >> 2
export const RDFT = 0x2418 >> 2
export const RDFHS = 0x2420 >> 2
export const RDFTS = 0x2428 >> 2
export const RDFPC = 0x2430 >> 2
export const RDBAL = 0x2800 >> 2
export const RDBAH = 0x2804 >> 2
export const RDLEN = 0x2808 >> 2
export const RDH = 0x2810 >> 2
export const RDT = 0x2818 >> 2
export const RDTR = 0x2820 >> 2
export const RADV = 0x282c >> 2
// Transmit
export const TDFH = 0x3410 >> 2
export const TDFT = 0x3418 >> 2
export const TDFHS = 0x3420 >> 2
export const TDFTS = 0x3428 >> 2
export const TDFPC = 0x3430 >> 2
export const TDBAL = 0x3800 >> 2
export const TDBAH = 0x3804 >> 2
export const TDLEN = 0x3808 >> 2
export const TDH = 0x3810 >> 2
export const TDT = 0x3818 >> 2
export const TXDCTL = 0x3828 >> 2
export const TADV = 0x382c >> 2
// Statistics
export const CRCERRS = 0x4000 >> 2
export const MPC = 0x4010 >> 2
export const SCC = 0x4014 >> 2
export const ECOL = 0x4018 >> 2
export const MCC = 0x401c >> 2
export const LATECOL = 0x4020 >> 2
export const COLC = 0x4028 >> 2
export const DC = 0x4030 >> 2
export const TNCRS = 0x4034 >> 2
export const SEQEC = 0x4038 >> 2
export const CEXTERR = 0x403c >> 2
export const RLEC = 0x4040 >> 2
export const XONRXC = 0x4048 >> 2
export const XONTXC = 0x404c >> 2
export const XOFFRXC = 0x4050 >> 2
export const XOFFTXC = 0x4054 >> 2
export const FCRUC = 0x4058 >> 2
export const PRC64 = 0x405c >> 2
export const PRC127 = 0x4060 >> 2
export const PRC255 = 0x4064 >> 2
export const PRC511 = 0x4068 >> 2
export const PRC1023 = 0x406c >> 2
export const PRC1522 = 0x4070 >> 2
export const GPRC = 0x4074 >> 2
export const BPRC = 0x4078 >> 2
export const MPRC = 0x407c >> 2
export const GPTC = 0x4080 >> 2
export const GORCL = 0x4088 >> 2
export const GORCH = 0x408c >> 2
export const GOTCL = 0x4090 >> 2
export const GOTCH = 0x4094 >> 2
export const RNBC = 0x40a0 >> 2
export const RUC = 0x40a4 >> 2
export const RFC = 0x40a8 >> 2
export const ROC = 0x40ac >> 2
export const RJC = 0x40b0 >> 2
export const MGTPRC = 0x40b4 >> 2
export const MGTPDC = 0x40b8 >> 2
export const MGTPTC = 0x40bc >> 2
export const TORL = 0x40c0 >> 2
export const TORH = 0x40c4 >> 2
export const TOTL = 0x40c8 >> 2
export const TOTH = 0x40cc >> 2
export const TPR = 0x40d0 >> 2
export const TPT = 0x40d4 >> 2
export const PTC64 = 0x40d8 >> 2
export const PTC127 = 0x40dc >> 2
export const PTC255 = 0x40e0 >> 2
export const PTC511 = 0x40e4 >> 2
export const PTC1023 = 0x40e8 >> 2
export const PTC1522 = 0x40ec >> 2
export const MPTC = 0x40f0 >> 2
export const BPTC = 0x40f4 >> 2
export const TSCTC = 0x40f8 >> 2
export const TSCTFC = 0x40fc >> 2
// Filters and wake-up
export const MTA = 0x5200 >> 2 // 128 words
export const RA = 0x5400 >> 2 // 16 pairs (RAL, RAH)
export const VFTA = 0x5600 >> 2 // 128 words
export const WUC = 0x5800 >> 2
export const WUFC = 0x5808 >> 2
export const WUS = 0x5810 >> 2
export const MANC = 0x5820 >> 2
export const IPAV = 0x5838 >> 2
export const IP4AT = 0x5840 >> 2 // 7 words
export const IP6AT = 0x5880 >> 2 // 4 words
export const WUPM = 0x5a00 >> 2 // 32 words
export const SWSM = 0x5b50 >> 2
export const FFLT = 0x5f00 >> 2 // 7 words
export const FFMT = 0x9000 >> 2 // 255 words (QEMU's count)
export const FFVT = 0x9800 >> 2 // 255 words
export const PBM = 0x10000 >> 2 // 16384 words

export const REG_WORDS = 0x8000

// CTRL
export const CTRL_SLU = 1 << 6
export const CTRL_SPD_1000 = 1 << 9
export const CTRL_SWDPIN0 = 1 << 18
export const CTRL_SWDPIN2 = 1 << 20
export const CTRL_RST = 1 << 26
export const CTRL_VME = 1 << 30
// STATUS
export const STATUS_LU = 1 << 1
export const STATUS_RESET = 0x80080783
// ICR bits
export const ICR_TXDW = 0x01
export const ICR_TXQE = 0x02
export const ICR_LSC = 0x04
export const ICR_RXDMT0 = 0x10
export const ICR_RXO = 0x40
export const ICR_RXT0 = 0x80
export const ICR_MDAC = 0x200
// RCTL
export const RCTL_EN = 1 << 1
export const RCTL_SBP = 1 << 2
export const RCTL_UPE = 1 << 3
export const RCTL_MPE = 1 << 4
export const RCTL_LPE = 1 << 5
export const RCTL_MO_SHIFT = 12
export const RCTL_BAM = 1 << 15
export const RCTL_VFE = 1 << 18
export const RCTL_BSEX = 1 << 25
export const RCTL_SECRC = 1 << 26
// TCTL
export const TCTL_EN = 1 << 1
// RAH
export const RAH_AV = 0x80000000
// TX descriptor dword 2 ("lower") and dword 3 ("upper")
export const TXD_EOP = 1 << 24
export const TXD_DTYP_D = 1 << 20
export const TXD_TCP = 1 << 24 // context descriptor
export const TXD_IP = 1 << 25 // context descriptor
export const TXD_TSE = 1 << 26
export const TXD_RS = 1 << 27
export const TXD_RPS = 1 << 28
export const TXD_DEXT = 1 << 29
export const TXD_VLE = 1 << 30
export const TXD_IDE = 0x80000000
export const TXD_STAT_DD = 0x01
export const TXD_STAT_EC = 0x02
export const TXD_STAT_LC = 0x04
export const TXD_STAT_TU = 0x08
export const POPTS_IXSM = 0x01
export const POPTS_TXSM = 0x02
// RX descriptor status
export const RXD_DD = 0x01
export const RXD_EOP = 0x02
export const RXD_IXSM = 0x04
export const RXD_VP = 0x08
