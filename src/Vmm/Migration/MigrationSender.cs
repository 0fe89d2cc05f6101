using System.Diagnostics;
using System.Globalization;
using CloudHypervisor.EventMonitor;
using CloudHypervisor.InternalApi.Models;
using CloudHypervisor.Vmm.Hypervisor;
using CloudHypervisor.Vmm.Memory;
using CloudHypervisor.Vmm.State;
using ILogger = Serilog.ILogger;

namespace CloudHypervisor.Vmm.Migration;

/// <summary>What a finished send measured, for the log and the bench.</summary>
public readonly record struct MigrationSendResult(int Iterations, ulong BytesSent, long TotalMs, double DowntimeMs);

/// <summary>
/// The sending side of upstream's protocol (upstream-state.md §B), run on the operation thread:
/// Start; one MemoryFd per RAM slot when local; Config; then either pause (local) or pre-copy:
/// dirty logging on, iteration 0 sends every page that may be non-zero, each later iteration the
/// pages written since, until the estimate of the last pass (bytes left / the last pass's
/// bandwidth) fits downtime_ms or timeout_s runs out (Cancel fails, Ignore goes on); then pause,
/// a final Memory of what is still dirty, State (the same tree as a snapshot's state.json), and
/// Complete (the VM ran) or CompletePaused. The caller resumes the VM if this throws.
/// </summary>
public sealed class MigrationSender(IGuestVm vm, VmConfig config, SendMigrationData options, IEventPublisher events, ILogger log)
{
    // A Memory request carries at most this much, so the receiver's reads stay bounded.
    private const ulong MaxRequestBytes = 256UL << 20;

    /// <summary>True once the VM was paused by the migration (the caller resumes it on failure).</summary>
    public bool PausedByMigration { get; private set; }

    public MigrationSendResult Run(bool wasRunning, CancellationToken cancellationToken)
    {
        var memory = vm.Memory ?? throw new HypervisorException("The VM has no guest RAM to migrate", []);
        var url = MigrationUrl.Parse(options.DestinationUrl);
        var clock = Stopwatch.StartNew();
        using var socket = MigrationSocket.Connect(url, cancellationToken);
        socket.SendStart();
        socket.ExpectOk("Start");
        if (options.Local)
        {
            var memfd = memory.Memfd ?? throw new HypervisorException("Local migration requires shared memory or hugepages enabled", []);
            for (var slot = 0; slot < memory.Regions.Count; slot++)
            {
                socket.SendMemoryFd((uint)slot, memfd);
                socket.ExpectOk("MemoryFd");
            }
        }

        var manager = SnapshotMemory.ManagerState(memory);
        socket.SendRequest(MigrationCommand.Config, new MigrationConfig(config, vm.Cpuid, manager).Write());
        socket.ExpectOk("Config");

        ulong sent = 0;
        var iterations = 0;
        long pausedAt;
        if (options.Local)
        {
            pausedAt = Pause(wasRunning);
        }
        else
        {
            vm.StartDirtyLog();
            try
            {
                (sent, iterations, pausedAt) = PreCopy(socket, memory, wasRunning, clock, cancellationToken);
            }
            finally
            {
                if (!PausedByMigration && wasRunning)
                {
                    // Cancelled or failed while running: stop logging before handing the VM back.
                    vm.StopDirtyLog();
                }
            }
        }

        var state = StateJson.Write(vm.SaveState(), StateJsonContext.Default.Snapshot);
        socket.SendRequest(MigrationCommand.State, System.Text.Encoding.UTF8.GetBytes(state));
        socket.ExpectOk("State");
        socket.SendRequestHeader(wasRunning ? MigrationCommand.Complete : MigrationCommand.CompletePaused, 0);
        socket.ExpectOk(wasRunning ? "Complete" : "CompletePaused");
        var downtime = (Stopwatch.GetTimestamp() - pausedAt) * 1000.0 / Stopwatch.Frequency;
        vm.StopDirtyLog();
        return new MigrationSendResult(iterations, sent, clock.ElapsedMilliseconds, downtime);
    }

    private long Pause(bool wasRunning)
    {
        var at = Stopwatch.GetTimestamp();
        if (wasRunning)
        {
            events.Publish(Events.Vm.Pausing);
            vm.Pause();
            PausedByMigration = true;
            events.Publish(Events.Vm.Paused);
        }

        return at;
    }

    private (ulong Sent, int Iterations, long PausedAt) PreCopy(MigrationSocket socket, GuestMemory memory, bool wasRunning, Stopwatch clock, CancellationToken cancellationToken)
    {
        var downtime = TimeSpan.FromMilliseconds(options.DowntimeMs);
        var timeout = TimeSpan.FromSeconds(options.TimeoutS);
        double bytesPerSecond = 0;
        ulong sent = 0;
        var iteration = 0;
        // Iteration 0: the destination's RAM is fresh, so only pages that may hold data go.
        var pending = memory.NonZeroPages();
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (iteration > 0)
            {
                pending = new DirtyBitmap(memory.Pages);
                vm.TakeDirtyLog(pending, final: false);
                var bytes = pending.Count() * (ulong)SnapshotMemory.PageSize;
                if (bytes == 0)
                {
                    break;
                }

                if (bytesPerSecond > 0 && bytes / bytesPerSecond <= downtime.TotalSeconds)
                {
                    log.Information("Pre-copy converged after {Iterations} iterations: {Bytes} bytes left, estimated {Ms:F1} ms to send",
                        iteration, bytes, bytes * 1000.0 / bytesPerSecond);
                    break;
                }

                if (clock.Elapsed >= timeout)
                {
                    if (options.TimeoutStrategy == TimeoutStrategy.Cancel)
                    {
                        throw new HypervisorException($"Precopy: Timeout reached: {options.TimeoutS}s: migration didn't converge in time", []);
                    }

                    log.Warning("Pre-copy did not converge in {Timeout} s; pausing anyway (timeout_strategy Ignore), {Bytes} bytes left", options.TimeoutS, bytes);
                    break;
                }
            }

            var started = Stopwatch.GetTimestamp();
            var bytesSent = SendMemory(socket, memory, pending);
            var seconds = (Stopwatch.GetTimestamp() - started) / (double)Stopwatch.Frequency;
            if (bytesSent > 0 && seconds > 0)
            {
                bytesPerSecond = bytesSent / seconds;
            }

            sent += bytesSent;
            events.Publish(Events.Vm.MigrationMemoryIteration, new Dictionary<string, string> { ["id"] = iteration.ToString(CultureInfo.InvariantCulture) });
            iteration++;
        }

        var pausedAt = Pause(wasRunning);
        // What the last check saw and did not send, what the guest wrote since, and every page a
        // device wrote during the migration: the VM is quiescent now, so this is the last word.
        vm.TakeDirtyLog(pending, final: true);
        sent += SendMemory(socket, memory, pending);
        return (sent, iteration, pausedAt);
    }

    /// <summary>Memory requests for the pages set in <paramref name="pages"/>: table, then the bytes of each range.</summary>
    private static ulong SendMemory(MigrationSocket socket, GuestMemory memory, DirtyBitmap pages)
    {
        var ranges = memory.RangesOf(pages);
        ulong total = 0;
        var batch = new List<MemoryRangeSpan>();
        ulong batchBytes = 0;
        foreach (var range in ranges.SelectMany(Split))
        {
            if (batchBytes + range.Length > MaxRequestBytes && batch.Count > 0)
            {
                total += SendBatch(socket, memory, batch);
                batch.Clear();
                batchBytes = 0;
            }

            batch.Add(range);
            batchBytes += range.Length;
        }

        if (batch.Count > 0)
        {
            total += SendBatch(socket, memory, batch);
        }

        return total;
    }

    private static IEnumerable<MemoryRangeSpan> Split(MemoryRangeSpan range)
    {
        for (ulong at = 0; at < range.Length; at += MaxRequestBytes)
        {
            yield return new MemoryRangeSpan(range.Gpa + at, Math.Min(MaxRequestBytes, range.Length - at));
        }
    }

    private static ulong SendBatch(MigrationSocket socket, GuestMemory memory, List<MemoryRangeSpan> batch)
    {
        var table = new byte[batch.Count * MigrationProtocol.MemoryRangeSize];
        for (var i = 0; i < batch.Count; i++)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(table.AsSpan(i * 16), batch[i].Gpa);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(table.AsSpan((i * 16) + 8), batch[i].Length);
        }

        socket.SendRequestHeader(MigrationCommand.Memory, (ulong)table.Length);
        socket.Write(table);
        ulong bytes = 0;
        foreach (var range in batch)
        {
            socket.Write(memory.GetReadOnlySpan(range.Gpa, (int)range.Length));
            bytes += range.Length;
        }

        socket.ExpectOk("Memory");
        return bytes;
    }
}
