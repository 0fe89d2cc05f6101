using System.Buffers.Binary;
using System.Text;
using CloudHypervisor.EventMonitor;
using CloudHypervisor.InternalApi;
using CloudHypervisor.InternalApi.Models;
using CloudHypervisor.Vmm.Hypervisor;
using CloudHypervisor.Vmm.Kvm.Interop;
using CloudHypervisor.Vmm.Memory;
using CloudHypervisor.Vmm.State;
using ILogger = Serilog.ILogger;

namespace CloudHypervisor.Vmm.Migration;

/// <summary>A VM received whole: built, its state restored, running (Complete) or paused (CompletePaused).</summary>
public sealed record ReceivedVm(VmConfig Config, IGuestVm Vm, bool Running);

/// <summary>
/// The receiving side of upstream's protocol (upstream-state.md §B), run on the operation thread.
/// States: Established →Start→ Started →MemoryFd*→ →Config→ Configured (Memory*) →State→
/// StateReceived (the VM is built on the received RAM and restored from the same state tree a
/// snapshot's state.json holds) →Complete (resumed) or CompletePaused→ done. Every request gets a
/// 16-byte Response; anything out of place gets Error and ends the receive, and Abandon gets Ok and
/// then ends it with "Migration was aborted". Whatever was built is released on failure.
/// </summary>
public sealed class MigrationReceiver(
    ReceiveMigrationData options,
    IEventPublisher events,
    ILogger log,
    Func<VmConfig, ApiError?> validate,
    Func<SnapshotImage, IGuestVm> restore)
{
    // A State payload is JSON of device and vCPU records: far below this.
    private const ulong MaxStateBytes = 64UL << 20;
    private const ulong MaxTableBytes = 16UL << 20;

    private enum ReceiveState
    {
        Established,
        Started,
        MemoryFdsReceived,
        Configured,
        StateReceived,
    }

    public ReceivedVm Run(CancellationToken cancellationToken)
    {
        var url = MigrationUrl.Parse(options.ReceiverUrl);
        using var socket = MigrationSocket.Accept(url, () => events.Publish(Events.Vm.MigrationReceiveReady), cancellationToken);
        events.Publish(Events.Vm.MigrationReceiveStarted);
        var state = ReceiveState.Established;
        var memfds = new Dictionary<uint, FdHandle>();
        MigrationConfig? config = null;
        GuestMemory? memory = null;
        IGuestVm? vm = null;
        try
        {
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var request = socket.ReadRequest()
                    ?? throw new HypervisorException("The migration stream ended before Complete", [$"in receive state {state}"]);
                switch (request.Command, state)
                {
                    case (MigrationCommand.Start, ReceiveState.Established):
                        if (!MigrationProtocol.AcceptsVersion(request.Version))
                        {
                            Refuse(socket, $"Unsupported migration protocol version {request.Version}");
                        }

                        Expect(request, 0);
                        state = ReceiveState.Started;
                        break;
                    case (MigrationCommand.MemoryFd, ReceiveState.Started or ReceiveState.MemoryFdsReceived):
                        Expect(request, 4);
                        var slot = new byte[4];
                        socket.ReadExactly(slot, "a MemoryFd slot");
                        var fds = socket.TakeFds();
                        if (fds.Count != 1)
                        {
                            foreach (var extra in fds)
                            {
                                new FdHandle(extra).Dispose();
                            }

                            Refuse(socket, $"MemoryFd carried {fds.Count} descriptors, expected 1");
                        }

                        var number = BinaryPrimitives.ReadUInt32LittleEndian(slot);
                        if (memfds.Remove(number, out var old))
                        {
                            old.Dispose();
                        }

                        memfds[number] = new FdHandle(fds[0]);
                        state = ReceiveState.MemoryFdsReceived;
                        break;
                    case (MigrationCommand.Config, ReceiveState.Started or ReceiveState.MemoryFdsReceived):
                        config = MigrationConfig.Read(ReadPayload(socket, request.Length, MaxStateBytes, "Config"));
                        if (validate(config.VmConfig) is { } invalid)
                        {
                            Refuse(socket, $"vm_config: {string.Join(": ", invalid.Causes)}");
                        }

                        memory = CreateMemory(config.VmConfig, memfds);
                        var expected = SnapshotMemory.Ranges(memory).Data;
                        if (!config.MemoryManagerData.MemoryRanges.Data.SequenceEqual(expected))
                        {
                            Refuse(socket, "memory_manager_data/memory_ranges do not match the RAM vm_config lays out");
                        }

                        state = ReceiveState.Configured;
                        break;
                    case (MigrationCommand.Memory, ReceiveState.Configured):
                        if (memfds.Count > 0)
                        {
                            Refuse(socket, "Memory after MemoryFd: the RAM was handed over already");
                        }

                        ReceiveMemory(socket, memory!, request.Length);
                        break;
                    case (MigrationCommand.State, ReceiveState.Configured):
                        var text = Encoding.UTF8.GetString(ReadPayload(socket, request.Length, MaxStateBytes, "State"));
                        Snapshot snapshot;
                        try
                        {
                            snapshot = StateJson.Read(text, StateJsonContext.Default.Snapshot);
                        }
                        catch (StateFormatException e)
                        {
                            Refuse(socket, $"State: {SnapshotFiles.StateError(e)}");
                            throw;
                        }

                        vm = Build(socket, config!, snapshot, memory!);
                        memory = null;
                        state = ReceiveState.StateReceived;
                        break;
                    case (MigrationCommand.Complete or MigrationCommand.CompletePaused, ReceiveState.StateReceived):
                        Expect(request, 0);
                        var running = request.Command == MigrationCommand.Complete;
                        if (running)
                        {
                            events.Publish(Events.Vm.Resuming);
                            vm!.Resume();
                            events.Publish(Events.Vm.Resumed);
                        }

                        socket.SendResponse(MigrationStatus.Ok);
                        var received = new ReceivedVm(config!.VmConfig, vm!, running);
                        vm = null;
                        return received;
                    case (MigrationCommand.Abandon, _):
                        socket.SendResponse(MigrationStatus.Ok);
                        throw new HypervisorException("Migration was aborted", []);
                    default:
                        socket.SendResponse(MigrationStatus.Error);
                        throw new HypervisorException($"Can't handle command {request.Command} in current receive state {state}", []);
                }

                socket.SendResponse(MigrationStatus.Ok);
            }
        }
        finally
        {
            foreach (var fd in memfds.Values)
            {
                fd.Dispose();
            }

            memory?.Dispose();
            if (vm is not null)
            {
                try
                {
                    vm.Dispose();
                }
                catch (Exception e)
                {
                    log.Error(e, "Releasing the partly received VM failed");
                }
            }
        }
    }

    private static void Expect(MigrationRequest request, ulong length)
    {
        if (request.Length != length)
        {
            throw new HypervisorException($"{request.Command} carries {request.Length} payload bytes, expected {length}", []);
        }
    }

    /// <summary>Answers Error and ends the receive with <paramref name="cause"/>.</summary>
    private static void Refuse(MigrationSocket socket, string cause)
    {
        TrySend(socket, MigrationStatus.Error);
        throw new HypervisorException(ApiErrorKind.InvalidArgument, cause, []);
    }

    private static void TrySend(MigrationSocket socket, MigrationStatus status)
    {
        try
        {
            socket.SendResponse(status);
        }
        catch (HypervisorException)
        {
            // The sender is gone; the error being raised says why the receive ends.
        }
    }

    private static byte[] ReadPayload(MigrationSocket socket, ulong length, ulong limit, string what)
    {
        if (length > limit)
        {
            Refuse(socket, $"{what} payload of {length} bytes is over the limit of {limit}");
        }

        var payload = new byte[length];
        socket.ReadExactly(payload, what);
        return payload;
    }

    private static GuestMemory CreateMemory(VmConfig config, Dictionary<uint, FdHandle> memfds)
    {
        if (memfds.Count == 0)
        {
            return GuestMemory.Create(config.Memory.Size, config.Memory.Shared, config.Memory.Hugepages, config.Memory.HugepageSize);
        }

        // Our RAM is one memfd for every slot (each slot maps it at its own offset), so slot 0's
        // descriptor is the whole of it; the others are the same file.
        if (!memfds.Remove(0, out var first))
        {
            throw new HypervisorException(ApiErrorKind.InvalidArgument, "MemoryFd for slot 0 is missing", []);
        }

        return GuestMemory.FromMemfd(first, config.Memory.Size);
    }

    private static void ReceiveMemory(MigrationSocket socket, GuestMemory memory, ulong tableLength)
    {
        if (tableLength % MigrationProtocol.MemoryRangeSize != 0 || tableLength > MaxTableBytes)
        {
            Refuse(socket, $"Memory table of {tableLength} bytes is not a whole number of 16-byte ranges under {MaxTableBytes}");
        }

        var table = new byte[tableLength];
        socket.ReadExactly(table, "a Memory table");
        for (var at = 0; at < table.Length; at += MigrationProtocol.MemoryRangeSize)
        {
            var gpa = BinaryPrimitives.ReadUInt64LittleEndian(table.AsSpan(at));
            var length = BinaryPrimitives.ReadUInt64LittleEndian(table.AsSpan(at + 8));
            if (!memory.Contains(gpa, length))
            {
                Refuse(socket, $"Memory range 0x{gpa:X}+0x{length:X} is outside guest RAM");
            }

            for (ulong done = 0; done < length;)
            {
                var chunk = (int)Math.Min(length - done, 64UL << 20);
                socket.ReadExactly(memory.GetSpan(gpa + done, chunk), "Memory");
                done += (ulong)chunk;
            }
        }
    }

    private IGuestVm Build(MigrationSocket socket, MigrationConfig config, Snapshot snapshot, GuestMemory memory)
    {
        events.Publish(Events.Vm.Restoring);
        try
        {
            var vm = restore(new SnapshotImage
            {
                Directory = "",
                Config = config.VmConfig,
                State = snapshot,
                Memory = config.MemoryManagerData,
                FilledMemory = memory,
            });
            events.Publish(Events.Vm.Restored);
            return vm;
        }
        catch (HypervisorException e)
        {
            memory.Dispose();
            TrySend(socket, MigrationStatus.Error);
            throw new HypervisorException(e.Kind, e.Message, e.Causes);
        }
    }
}
