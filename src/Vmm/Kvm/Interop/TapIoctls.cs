using System.Runtime.InteropServices;

namespace CloudHypervisor.Interop;

// The tun/tap and network-interface ioctls a virtio-net backend needs (linux/if_tun.h,
// linux/sockios.h). They stay in this folder with every other native call of Vmm.
// SAFETY: declarations and structs with fixed buffers only; the tap code passes each struct
// from its own frame.
internal static unsafe partial class Libc
{
    public const int AF_INET = 2;
    public const int SOCK_DGRAM = 2;
    public const int SOCK_CLOEXEC = 0x80000;

    public const ulong TUNSETIFF = 0x400454CA;
    public const ulong TUNGETIFF = 0x800454D2;
    public const ulong TUNSETOFFLOAD = 0x400454D0;
    public const ulong TUNSETVNETHDRSZ = 0x400454D8;
    public const short IFF_TAP = 0x0002;
    public const short IFF_NO_PI = 0x1000;
    public const short IFF_VNET_HDR = 0x4000;
    public const short IFF_MULTI_QUEUE = 0x0100;
    public const uint TUN_F_CSUM = 0x01;
    public const uint TUN_F_TSO4 = 0x02;
    public const uint TUN_F_TSO6 = 0x04;
    public const uint TUN_F_TSO_ECN = 0x08;
    public const uint TUN_F_UFO = 0x10;

    public const ulong SIOCGIFFLAGS = 0x8913;
    public const ulong SIOCSIFFLAGS = 0x8914;
    public const ulong SIOCSIFADDR = 0x8916;
    public const ulong SIOCSIFNETMASK = 0x891C;
    public const ulong SIOCSIFMTU = 0x8922;
    public const ulong SIOCSIFHWADDR = 0x8924;
    public const short IFF_UP = 0x1;
    public const ushort ARPHRD_ETHER = 1;

    [LibraryImport(LibcName, EntryPoint = "socket", SetLastError = true)]
    public static partial int socket(int domain, int type, int protocol);

#pragma warning disable IDE1006, CA1815, CS8981 // Linux names.
    /// <summary>
    /// <c>struct ifreq</c> (40 bytes on x86-64): the interface name, then a 24-byte union read
    /// here as flags (short), an int (mtu), or a <c>struct sockaddr</c> (family, then 14 bytes of
    /// address: for AF_INET the port, then the IPv4 address; for a hardware address the MAC).
    /// </summary>
    [StructLayout(LayoutKind.Explicit, Size = 40)]
    public struct ifreq
    {
        [FieldOffset(0)]
        public fixed byte ifr_name[16];

        [FieldOffset(16)]
        public short ifr_flags;

        [FieldOffset(16)]
        public int ifr_mtu;

        [FieldOffset(16)]
        public ushort sa_family;

        [FieldOffset(18)]
        public fixed byte sa_data[14];
    }
#pragma warning restore IDE1006, CA1815, CS8981
}
