using System.Runtime.InteropServices;

namespace CloudHypervisor.Vmm.Kvm.Interop;

/// <summary>A failed system call in the KVM backend: the operation (an ioctl or libc name) and its errno.</summary>
public sealed class KvmException : Exception
{
    public KvmException()
        : this("unknown operation", 0)
    {
    }

    public KvmException(string message)
        : base(message)
    {
        Operation = "unknown operation";
    }

    public KvmException(string message, Exception innerException)
        : base(message, innerException)
    {
        Operation = "unknown operation";
    }

    public KvmException(string operation, int errno)
        : base($"{operation} failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})")
    {
        Operation = operation;
        Errno = errno;
    }

    /// <summary>The ioctl or libc call that failed, e.g. <c>KVM_CREATE_VM</c>.</summary>
    public string Operation { get; }

    /// <summary>The errno it returned.</summary>
    public int Errno { get; }

    /// <summary>Throws for the calling thread's last P/Invoke errno.</summary>
    internal static KvmException FromLastError(string operation) => new(operation, Marshal.GetLastPInvokeError());
}
