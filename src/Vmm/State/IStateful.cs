namespace CloudHypervisor.Vmm.State;

/// <summary>
/// A component that saves and restores its own state as a record (DESIGN.md "Device model",
/// State): what upstream's <c>Snapshottable</c> trait is. The state is the JSON text of the
/// component's record, which is what upstream stores in <c>SnapshotData.state</c>. Called only
/// while the VM is paused (quiescent), or before its vCPUs have ever run.
/// </summary>
public interface IStateful
{
    /// <summary>The component's state record as JSON.</summary>
    string SaveState();

    /// <summary>
    /// Applies a record written by <see cref="SaveState"/> of the same kind of component; throws
    /// <see cref="StateFormatException"/> naming the field that does not fit.
    /// </summary>
    void RestoreState(string state);
}

/// <summary>
/// A component that does work on its own threads (a device worker, an input thread): pause stops
/// that work so the VM is quiescent (nothing writes guest memory or device state), resume
/// starts it again. Upstream's <c>Pausable</c>.
/// </summary>
public interface IPausable
{
    void Pause();

    void Resume();
}

/// <summary>
/// Marks a device type that has no state of its own to save (a pure adaptor, a write-only port,
/// or one whose state its owner saves), with the reason; the state test accepts such a type
/// instead of <see cref="IStateful"/>.
/// </summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class NoOwnStateAttribute(string reason) : Attribute
{
    public string Reason { get; } = reason;
}

/// <summary>The state of a device registered without any (see <see cref="NoOwnStateAttribute"/>): an empty record.</summary>
public sealed class NoState : IStateful
{
    public static NoState Instance { get; } = new();

    private NoState()
    {
    }

    public string SaveState() => "{}";

    public void RestoreState(string state)
    {
        if (state.Trim() != "{}")
        {
            throw new StateFormatException("", "a device without state was saved with some");
        }
    }
}

/// <summary>A saved state that does not fit the component: <see cref="Field"/> names where.</summary>
public sealed class StateFormatException : Exception
{
    public StateFormatException()
    {
        Field = "";
    }

    public StateFormatException(string message)
        : base(message)
    {
        Field = "";
    }

    public StateFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
        Field = "";
    }

    public StateFormatException(string field, string message)
        : base(message)
    {
        Field = field;
    }

    /// <summary>The field (a JSON path below the component, e.g. <c>regs</c>), or empty for the whole record.</summary>
    public string Field { get; }

    /// <summary>The same failure one level further out, e.g. under <c>cpu-manager/0</c>.</summary>
    public StateFormatException Under(string component) =>
        new(Field.Length == 0 ? component : $"{component}/{Field}", Message);
}
