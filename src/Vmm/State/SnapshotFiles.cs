using System.Text;
using CloudHypervisor.InternalApi;
using CloudHypervisor.InternalApi.Json;
using CloudHypervisor.InternalApi.Models;
using CloudHypervisor.Vmm.Hypervisor;
using CloudHypervisor.Vmm.Kvm.Interop;
using CloudHypervisor.Vmm.Memory;

namespace CloudHypervisor.Vmm.State;

/// <summary>A snapshot directory read back and checked: what a backend restores from.</summary>
public sealed class SnapshotImage
{
    public required string Directory { get; init; }

    public required VmConfig Config { get; init; }

    public required Snapshot State { get; init; }

    /// <summary>The memory-manager node's data: the ranges memory-ranges holds, in order.</summary>
    public required MemoryManagerSnapshotData Memory { get; init; }

    public string MemoryPath => Path.Combine(Directory, SnapshotFiles.MemoryFile);

    /// <summary>Restore's <c>prefault</c>: fault every page in before the guest runs.</summary>
    public bool Prefault { get; init; }

    /// <summary><c>memory_restore_mode=ondemand</c>: pages are read from memory-ranges when first touched (userfaultfd).</summary>
    public bool OnDemand { get; init; }

    /// <summary>
    /// RAM already filled (a migration received it over the wire or as a memfd): the VM is built
    /// on it instead of on fresh RAM filled from memory-ranges, and owns it from then on.
    /// </summary>
    public GuestMemory? FilledMemory { get; init; }
}

/// <summary>
/// The snapshot directory (upstream's file:// URL): <c>config.json</c> (the VmConfig),
/// <c>state.json</c> (the <see cref="Snapshot"/> tree) and <c>memory-ranges</c>. Better than
/// upstream: the files are owner-only (0600), written under temporary names and renamed into
/// place only once all three are complete and synced, config.json last, so a snapshot that
/// failed (a full disk, a crash) never looks complete and leaves nothing behind.
/// </summary>
public static class SnapshotFiles
{
    public const string ConfigFile = "config.json";
    public const string StateFile = "state.json";
    public const string MemoryFile = "memory-ranges";
    public const string CpuManager = "cpu-manager";
    public const string MemoryManager = "memory-manager";
    public const string DeviceManager = "device-manager";

    private const int ENOSPC = 28;
    private const int EDQUOT = 122;

    /// <summary>upstream's <c>url_to_path</c>: a <c>file://</c> URL naming an existing directory.</summary>
    public static string DirectoryOf(string url, ApiErrorKind kind = ApiErrorKind.InvalidArgument)
    {
        ArgumentNullException.ThrowIfNull(url);
        if (!url.StartsWith("file://", StringComparison.Ordinal) || url.Length == "file://".Length)
        {
            throw new HypervisorException(kind, $"Could not extract path from URL: {url}", []);
        }

        var path = url["file://".Length..];
        if (!System.IO.Directory.Exists(path))
        {
            throw new HypervisorException(kind, $"Destination is not a directory: \"{path}\"", []);
        }

        return path;
    }

    /// <summary>
    /// Writes a snapshot of a paused VM into <paramref name="directory"/>. Nothing is renamed into
    /// place until every file is complete and on disk; on any failure the temporary files are
    /// removed and the error says what failed (a full disk is named as such).
    /// </summary>
    public static SnapshotWriteResult Write(string directory, VmConfig config, Snapshot state, GuestMemory? memory)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(state);
        var files = new List<string> { ConfigFile, StateFile };
        if (memory is not null)
        {
            files.Add(MemoryFile);
        }

        foreach (var name in files)
        {
            var final = Path.Combine(directory, name);
            if (Path.Exists(final))
            {
                // upstream creates each file with create_new.
                throw new HypervisorException(ApiErrorKind.AlreadyExists, "Cannot send VM snapshot", [$"Error creating {Describe(name)} {final}", "File exists (os error 17)"]);
            }
        }

        var temporary = files.ToDictionary(n => n, n => Path.Combine(directory, $".{n}.{Environment.ProcessId}.partial"));
        var renamed = new List<string>();
        ulong memoryBytes = 0, written = 0;
        var current = MemoryFile;
        try
        {
            if (memory is not null)
            {
                using var file = Create(temporary[MemoryFile]);
                memoryBytes = memory.Size;
                written = SnapshotMemory.Write(memory, file.SafeFileHandle);
                file.Flush(flushToDisk: true);
            }

            current = StateFile;
            WriteText(temporary[StateFile], StateJson.Write(state, StateJsonContext.Default.Snapshot));
            current = ConfigFile;
            WriteText(temporary[ConfigFile], ApiJson.Serialize(config, ApiJsonContext.Default.VmConfig));

            // Memory first, config last: a directory with config.json holds a whole snapshot.
            foreach (var name in files.AsEnumerable().Reverse())
            {
                current = name;
                File.Move(temporary[name], Path.Combine(directory, name), overwrite: false);
                renamed.Add(name);
            }

            SyncDirectory(directory);
            return new SnapshotWriteResult(memoryBytes, written);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            foreach (var path in temporary.Values)
            {
                TryDelete(path);
            }

            foreach (var name in renamed)
            {
                TryDelete(Path.Combine(directory, name));
            }

            if (e.HResult is ENOSPC or EDQUOT || e.Message.Contains("No space left", StringComparison.Ordinal))
            {
                throw new HypervisorException(ApiErrorKind.Internal, "Cannot send VM snapshot",
                    [$"No space left on device in {directory} while writing {current} ({memoryBytes} bytes of guest RAM); nothing was left behind and the VM is still paused", e.Message]);
            }

            throw new HypervisorException(ApiErrorKind.Internal, "Cannot send VM snapshot", [$"Error writing {Describe(current)} in {directory}; nothing was left behind", e.Message]);
        }
    }

    private static string Describe(string name) => name switch
    {
        ConfigFile => "VM config snapshot file",
        StateFile => "VM state snapshot file",
        _ => "memory snapshot file",
    };

    private static FileStream Create(string path)
    {
        var options = new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.ReadWrite,
            Share = FileShare.None,
            BufferSize = 0,
        };
        if (!OperatingSystem.IsWindows())
        {
            // Owner-only from the start: guest RAM may hold secrets.
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        return new FileStream(path, options);
    }

    private static void WriteText(string path, string text)
    {
        using var file = Create(path);
        file.Write(Encoding.UTF8.GetBytes(text));
        file.Flush(flushToDisk: true);
    }

    /// <summary>fsync of a directory, so a rename into it is on disk; best effort.</summary>
    internal static void SyncDirectory(string directory)
    {
        var fd = Libc.open(directory, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_CLOEXEC);
        if (fd < 0)
        {
            return;
        }

        _ = Libc.fsync(fd);
        _ = Libc.close(fd);
    }

    /// <summary>Deletes a temporary file on a failure path; best effort.</summary>
    internal static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Best effort: the error being reported matters more.
        }
    }

    /// <summary>
    /// Reads a snapshot directory for vm.restore. Every problem is an InvalidArgument that names
    /// the file and the field: a missing or truncated file, JSON that does not parse or does not
    /// fit, a memory-ranges file whose size is not what state.json says.
    /// </summary>
    public static SnapshotImage Read(string directory, bool prefault, bool onDemand = false)
    {
        var configBytes = ReadFile(directory, ConfigFile);
        var (config, error) = ApiJson.Deserialize(configBytes, ApiJsonContext.Default.VmConfig);
        if (config is null)
        {
            throw Invalid($"{ConfigFile}: {string.Join(": ", error!.Causes)}");
        }

        var stateText = Encoding.UTF8.GetString(ReadFile(directory, StateFile));
        Snapshot state;
        MemoryManagerSnapshotData memory;
        try
        {
            state = StateJson.Read(stateText, StateJsonContext.Default.Snapshot);
            var manager = state.Child(MemoryManager);
            try
            {
                memory = StateJson.Read(manager.State(), StateJsonContext.Default.MemoryManagerSnapshotData);
            }
            catch (StateFormatException e)
            {
                throw e.Under(MemoryManager);
            }

            _ = state.Child(CpuManager);
            _ = state.Child(DeviceManager);
        }
        catch (StateFormatException e)
        {
            throw Invalid(StateError(e));
        }

        ulong total;
        try
        {
            total = memory.MemoryRanges.TotalLength;
        }
        catch (OverflowException)
        {
            throw Invalid($"{StateFile}: {MemoryManager}/memory_ranges: the ranges add up to more than 2^64 bytes");
        }

        var memoryPath = Path.Combine(directory, MemoryFile);
        var length = File.Exists(memoryPath) ? new FileInfo(memoryPath).Length : -1;
        if (total > 0 && length < 0)
        {
            throw Invalid($"{MemoryFile}: is missing, and memory_ranges in {StateFile} names {total} bytes");
        }

        if (total > 0 && (ulong)length != total)
        {
            throw Invalid($"{MemoryFile}: is {length} bytes, but memory_ranges in {StateFile} names {total} (truncated or from another snapshot)");
        }

        return new SnapshotImage { Directory = directory, Config = config, State = state, Memory = memory, Prefault = prefault, OnDemand = onDemand };
    }

    /// <summary>"state.json: &lt;field&gt;: &lt;what&gt;", the cause of a restore that does not fit.</summary>
    public static string StateError(StateFormatException e)
    {
        ArgumentNullException.ThrowIfNull(e);
        return e.Field.Length == 0 ? $"{StateFile}: {e.Message}" : $"{StateFile}: {e.Field}: {e.Message}";
    }

    private static byte[] ReadFile(string directory, string name)
    {
        var path = Path.Combine(directory, name);
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Invalid($"{name}: cannot be read: {e.Message}");
        }
    }

    private static HypervisorException Invalid(string cause) =>
        new(ApiErrorKind.InvalidArgument, "Cannot restore VM", [cause]);
}

/// <summary>What a snapshot wrote: the guest RAM size and the bytes of it that were not zero.</summary>
public readonly record struct SnapshotWriteResult(ulong MemoryBytes, ulong WrittenBytes);
