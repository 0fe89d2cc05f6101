using CloudHypervisor.InternalApi;
using CloudHypervisor.InternalApi.Models;

namespace CloudHypervisor.Vmm.Control;

/// <summary>
/// The one table of state preconditions (STYLE.md §9): action × phase → allowed, or the error the
/// action answers. Causes are upstream's messages (contract §1.5); kinds are DESIGN.md's "Error
/// kinds" instead of upstream's 500s: no config → NotCreated, no VM object or wrong state →
/// InvalidState. A rule may instead name a target <see cref="VmState"/>, in which case the
/// transition switch of <see cref="VmStateMachine"/> decides. Whether a command may run while a
/// long operation is in progress is in this table too.
/// </summary>
public static class Preconditions
{
    /// <summary>Upstream's causes, quoted where several rules use them.</summary>
    public const string VmNotCreated = "VM is not created";
    public const string VmConfigMissing = "VM config is missing";
    public const string VmAlreadyCreated = "VM is already created";
    public const string VmNotRunning = "VM is not running";
    public const string SnapshotWhileRunning = "Trying to snapshot while VM is running";
    public const string CoredumpNotRunning = "Trying to coredump while VM is not running or paused";
    public const string ResizeDiskFailed = "Failed resizing a disk image";

    private static readonly Rule Ok = new(null, null, []);

    private static Rule NoConfig(string cause) => new(ApiErrorKind.NotCreated, null, [cause]);

    private static Rule Invalid(string cause) => new(ApiErrorKind.InvalidState, null, [cause]);

    private static Rule Move(VmState to, params string[] causes) => new(null, to, causes);

    private static Row Same(Rule rule) => new(rule, rule, rule, rule, rule);

    // Columns: NoConfig, Created, BootFailed, Running, Paused.
    private static readonly Dictionary<ApiAction, Row> Table = new()
    {
        [ApiCatalog.VmmPing] = Same(Ok),
        [ApiCatalog.VmmShutdown] = Same(Ok),
        [ApiCatalog.VmCreate] = new(Ok, Invalid(VmAlreadyCreated), Invalid(VmAlreadyCreated), Invalid(VmAlreadyCreated), Invalid(VmAlreadyCreated)),
        [ApiCatalog.VmDelete] = Same(Ok),
        [ApiCatalog.VmBoot] = new(NoConfig(VmConfigMissing), Move(VmState.Running), Invalid(VmAlreadyCreated), Invalid(VmAlreadyCreated), Invalid(VmAlreadyCreated)),
        [ApiCatalog.VmShutdown] = new(NoConfig(VmNotRunning), Invalid(VmNotRunning), Move(VmState.Shutdown), Move(VmState.Shutdown), Move(VmState.Shutdown)),
        [ApiCatalog.VmReboot] = new(NoConfig(VmNotCreated), Invalid(VmNotCreated), Move(VmState.Shutdown), Move(VmState.Shutdown), Move(VmState.Shutdown)),
        // A VM whose boot failed never ran: pausing, resuming or signalling it is refused rather
        // than faking a state change (upstream would let Created -> Paused through).
        [ApiCatalog.VmPause] = new(NoConfig(VmNotRunning), Invalid(VmNotRunning), Invalid(VmNotRunning),
            Move(VmState.Paused, "Cannot pause VM", "Failed to pause migratable component"),
            Move(VmState.Paused, "Cannot pause VM", "Failed to pause migratable component")),
        [ApiCatalog.VmResume] = new(NoConfig(VmNotRunning), Invalid(VmNotRunning), Invalid(VmNotRunning),
            Move(VmState.Running, "Cannot resume VM", "Failed to resume migratable component"),
            Move(VmState.Running, "Cannot resume VM", "Failed to resume migratable component")),
        [ApiCatalog.VmPowerButton] = new(NoConfig(VmNotRunning), Invalid(VmNotRunning), Invalid(VmNotRunning), Ok, Ok),
        [ApiCatalog.VmNmi] = new(NoConfig(VmNotRunning), Invalid(VmNotRunning), Invalid(VmNotRunning), Ok, Ok),
        [ApiCatalog.VmInfo] = new(NoConfig(VmNotCreated), Ok, Ok, Ok, Ok),
        [ApiCatalog.VmCounters] = new(NoConfig(VmNotRunning), Invalid(VmNotRunning), Ok, Ok, Ok),
        [ApiCatalog.VmResize] = new(NoConfig(VmNotCreated), Ok, Ok, Ok, Ok),
        [ApiCatalog.VmResizeDisk] = new(NoConfig(VmNotCreated), Invalid(ResizeDiskFailed), Ok, Ok, Ok),
        [ApiCatalog.VmResizeZone] = new(NoConfig(VmNotCreated), Ok, Ok, Ok, Ok),
        [ApiCatalog.VmAddDevice] = new(NoConfig(VmNotCreated), Ok, Ok, Ok, Ok),
        [ApiCatalog.VmAddUserDevice] = new(NoConfig(VmNotCreated), Ok, Ok, Ok, Ok),
        [ApiCatalog.VmAddDisk] = new(NoConfig(VmNotCreated), Ok, Ok, Ok, Ok),
        [ApiCatalog.VmAddFs] = new(NoConfig(VmNotCreated), Ok, Ok, Ok, Ok),
        [ApiCatalog.VmAddGenericVhostUser] = new(NoConfig(VmNotCreated), Ok, Ok, Ok, Ok),
        [ApiCatalog.VmAddPmem] = new(NoConfig(VmNotCreated), Ok, Ok, Ok, Ok),
        [ApiCatalog.VmAddNet] = new(NoConfig(VmNotCreated), Ok, Ok, Ok, Ok),
        [ApiCatalog.VmAddVdpa] = new(NoConfig(VmNotCreated), Ok, Ok, Ok, Ok),
        [ApiCatalog.VmAddVsock] = new(NoConfig(VmNotCreated), Ok, Ok, Ok, Ok),
        [ApiCatalog.VmRemoveDevice] = new(NoConfig(VmNotCreated), Ok, Ok, Ok, Ok),
        [ApiCatalog.VmSnapshot] = new(NoConfig(VmNotRunning), Invalid(VmNotRunning), Invalid(SnapshotWhileRunning), Invalid(SnapshotWhileRunning), Ok),
#if GUEST_DEBUG
        [ApiCatalog.VmCoredump] = new(NoConfig(VmNotRunning), Invalid(VmNotRunning), Invalid(CoredumpNotRunning), Ok, Ok),
#endif
        [ApiCatalog.VmRestore] = new(Ok, Invalid(VmAlreadyCreated), Invalid(VmAlreadyCreated), Invalid(VmAlreadyCreated), Invalid(VmAlreadyCreated)),
        [ApiCatalog.VmReceiveMigration] = new(Ok, Invalid(VmAlreadyCreated), Invalid(VmAlreadyCreated), Invalid(VmAlreadyCreated), Invalid(VmAlreadyCreated)),
        [ApiCatalog.VmSendMigration] = new(NoConfig(VmNotRunning), Invalid(VmNotRunning), Ok, Ok, Ok),
    };

    // Reads that answer at once from loop-owned state while a long operation runs (DESIGN rule 3).
    private static readonly HashSet<ApiAction> AnswersDuringOperation =
        [ApiCatalog.VmmPing, ApiCatalog.VmInfo, ApiCatalog.VmCounters];

    /// <summary>Every action the table knows (each catalog action once).</summary>
    public static IEnumerable<ApiAction> Actions => Table.Keys;

    /// <summary>
    /// Null when <paramref name="action"/> may run in <paramref name="phase"/>, otherwise the error
    /// to answer, built with the action's per-action message.
    /// </summary>
    public static ApiError? Check(ApiAction action, VmmPhase phase)
    {
        ArgumentNullException.ThrowIfNull(action);
        var rule = Table[action].For(phase);
        if (rule.Kind is { } kind)
        {
            return ApiError.For(action, kind, rule.Causes);
        }

        if (rule.Target is { } target && VmmPhases.StateOf(phase) is { } from &&
            VmStateMachine.Check(from, target) is { } invalid)
        {
            return ApiError.For(action, ApiErrorKind.InvalidState, [.. rule.Causes, invalid]);
        }

        return null;
    }

    /// <summary>
    /// True when <paramref name="action"/> answers at once while an operation is in progress;
    /// every other action then answers Busy (vmm.shutdown waits for the operation instead).
    /// </summary>
    public static bool RunsDuringOperation(ApiAction action) => AnswersDuringOperation.Contains(action);

    /// <summary>The Busy answer naming the operation in progress, e.g. "vm.boot is in progress".</summary>
    public static ApiError Busy(ApiAction action, string operation)
    {
        ArgumentNullException.ThrowIfNull(action);
        return ApiError.For(action, ApiErrorKind.Busy, $"{operation} is in progress");
    }

    private sealed record Rule(ApiErrorKind? Kind, VmState? Target, string[] Causes);

    private sealed record Row(Rule NoConfig, Rule Created, Rule BootFailed, Rule Running, Rule Paused)
    {
        public Rule For(VmmPhase phase) => phase switch
        {
            VmmPhase.NoConfig => NoConfig,
            VmmPhase.Created => Created,
            VmmPhase.BootFailed => BootFailed,
            VmmPhase.Running => Running,
            VmmPhase.Paused => Paused,
            _ => throw new ArgumentOutOfRangeException(nameof(phase), phase, null),
        };
    }
}
