using CloudHypervisor.InternalApi;
using CloudHypervisor.Vmm.Hypervisor;
using CloudHypervisor.Vmm.Memory;
using CloudHypervisor.Vmm.State;

namespace CloudHypervisor.Vmm.Debug;

/// <summary>
/// vm.coredump's destination: upstream's <c>file://PATH</c>, created new (an existing file is an
/// error). Better than upstream: the core is owner-only (0600: it is the guest's RAM), written
/// under a temporary name in the same directory and renamed into place only once complete and
/// synced, so a failed dump (a full disk, a crash) never leaves a file that looks like a core.
/// </summary>
public static class CoreFile
{
    private const int ENOSPC = 28;
    private const int EDQUOT = 122;

    /// <summary>upstream's <c>url_to_file</c>: the path of a <c>file://</c> URL, in a directory that exists, not there yet.</summary>
    public static string PathOf(string url)
    {
        ArgumentNullException.ThrowIfNull(url);
        if (!url.StartsWith("file://", StringComparison.Ordinal) || url.Length == "file://".Length || url.EndsWith('/'))
        {
            throw new HypervisorException(ApiErrorKind.InvalidArgument, $"Could not extract file from URL: {url}", []);
        }

        var path = url["file://".Length..];
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is null || !Directory.Exists(directory))
        {
            throw new HypervisorException(ApiErrorKind.InvalidArgument, "Cannot coredump VM",
                [$"Error creating coredump file {path}", $"The directory {directory} does not exist"]);
        }

        RefuseExisting(path);
        return path;
    }

    private static void RefuseExisting(string path)
    {
        if (Path.Exists(path))
        {
            throw new HypervisorException(ApiErrorKind.AlreadyExists, "Cannot coredump VM",
                [$"Error creating coredump file {path}", "File exists (os error 17)"]);
        }
    }

    /// <summary>
    /// Writes the core of a paused VM to <paramref name="path"/>; on any failure nothing is left
    /// behind and the error says what failed (a full disk is named as such).
    /// </summary>
    public static CoreWriteResult Write(string path, IReadOnlyList<CoreCpuState> cpus, GuestMemory memory)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(memory);
        RefuseExisting(path);
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        var temporary = Path.Combine(directory, $".{Path.GetFileName(path)}.{Environment.ProcessId}.partial");
        try
        {
            ulong written;
            long size;
            var options = new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.ReadWrite,
                Share = FileShare.None,
                BufferSize = 0,
            };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }

            using (var file = new FileStream(temporary, options))
            {
                written = ElfCore.Write(file.SafeFileHandle, cpus, memory);
                file.Flush(flushToDisk: true);
                size = file.Length;
            }

            File.Move(temporary, path, overwrite: false);
            SnapshotFiles.SyncDirectory(directory);
            return new CoreWriteResult(size, memory.Size, written);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            SnapshotFiles.TryDelete(temporary);
            if (e.HResult is ENOSPC or EDQUOT || e.Message.Contains("No space left", StringComparison.Ordinal))
            {
                throw new HypervisorException(ApiErrorKind.Internal, "Cannot coredump VM",
                    [$"No space left on device in {directory} while writing the core dump {path} ({memory.Size} bytes of guest RAM); nothing was left behind", e.Message]);
            }

            throw new HypervisorException(ApiErrorKind.Internal, "Cannot coredump VM", [$"Error writing coredump file {path}; nothing was left behind", e.Message]);
        }
    }
}

/// <summary>What a core dump wrote: the file's size, the guest RAM size and the bytes of RAM that were not zero.</summary>
public readonly record struct CoreWriteResult(long FileBytes, ulong MemoryBytes, ulong WrittenBytes);
