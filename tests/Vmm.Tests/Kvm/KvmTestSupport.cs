using System.Diagnostics;
using CloudHypervisor.Vmm.Hypervisor;

namespace CloudHypervisor.Vmm.Tests.Kvm;

/// <summary>Prerequisites of the real-KVM tests, each failing with one line that says what is missing.</summary>
internal static class KvmRequirement
{
    public static void Check()
    {
        if (!File.Exists("/dev/kvm"))
        {
            Assert.Fail("/dev/kvm is absent: these tests boot real VMs and need KVM");
        }

        try
        {
            using var stream = new FileStream("/dev/kvm", FileMode.Open, FileAccess.ReadWrite);
        }
        catch (UnauthorizedAccessException)
        {
            Assert.Fail("/dev/kvm is not accessible to this user: add it to the kvm group");
        }
    }
}

/// <summary>Assembles a tiny guest of our own with GNU as and ld (Debian binutils) into a PVH ELF.</summary>
internal static class TinyGuest
{
    /// <summary>
    /// A PVH ELF whose 32-bit entry runs <paramref name="body"/> (AT&amp;T syntax) at 1 MiB. The ELF
    /// note XEN_ELFNOTE_PHYS32_ENTRY (18) names the entry point.
    /// </summary>
    public static string Build(string directory, string name, string body)
    {
        var source = $$"""
            .section .note.Xen, "a", @note
            .balign 4
            .long 4
            .long 4
            .long 18
            .asciz "Xen"
            .long _start
            .text
            .code32
            .globl _start
            _start:
            {{body}}
            """;
        var asm = Path.Combine(directory, name + ".s");
        var obj = Path.Combine(directory, name + ".o");
        var elf = Path.Combine(directory, name + ".elf");
        var script = Path.Combine(directory, name + ".ld");
        File.WriteAllText(asm, source + "\n");
        File.WriteAllText(script, """
            ENTRY(_start)
            PHDRS { text PT_LOAD FILEHDR PHDRS; note PT_NOTE; }
            SECTIONS {
              . = 0x100000 + SIZEOF_HEADERS;
              .text : { *(.text) *(.data) *(.bss) } :text
              .note : { *(.note.Xen) } :text :note
            }
            """);
        Run("as", $"--32 -o {obj} {asm}");
        Run("ld", $"-m elf_i386 -T {script} -o {elf} {obj}");
        return elf;
    }

    private static void Run(string tool, string arguments)
    {
        Process process;
        try
        {
            process = Process.Start(new ProcessStartInfo(tool, arguments) { RedirectStandardError = true })!;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            Assert.Fail($"{tool} is not installed: the KVM tests assemble their guests with binutils (apt install binutils)");
            throw;
        }

        using (process)
        {
            var errors = process.StandardError.ReadToEnd();
            process.WaitForExit();
            Assert.True(process.ExitCode == 0, $"{tool} {arguments} failed: {errors}");
        }
    }
}

/// <summary>Records guest exits and device events as the control loop would receive them.</summary>
internal sealed class RecordingEvents : IGuestEvents
{
    private readonly TaskCompletionSource<GuestExit> _exit = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _exits;

    public int ExitCount => Volatile.Read(ref _exits);

    public Task<GuestExit> Exit => _exit.Task;

    public void GuestExited(GuestExit exit)
    {
        Interlocked.Increment(ref _exits);
        _exit.TrySetResult(exit);
    }

    public void DeviceEvent(CloudHypervisor.EventMonitor.EventKind kind, IReadOnlyDictionary<string, string>? properties = null)
    {
    }
}

/// <summary>A temporary directory removed at the end of a test.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = Directory.CreateTempSubdirectory("kvm-test-").FullName;
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

internal static class Wait
{
    /// <summary>Polls <paramref name="condition"/> until it holds or <paramref name="timeout"/> passes.</summary>
    public static bool Until(Func<bool> condition, TimeSpan timeout)
    {
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < timeout)
        {
            if (condition())
            {
                return true;
            }

            Thread.Sleep(5);
        }

        return condition();
    }

    public static string ReadShared(string path)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var reader = new StreamReader(stream);
            return reader.ReadToEnd();
        }
        catch (FileNotFoundException)
        {
            return "";
        }
    }
}
