namespace CloudHypervisor.Sandbox;

/// <summary>Provisional: every number, while the list is measured.</summary>
internal static class SeccompAllowList
{
    public static IReadOnlyList<int> Numbers { get; } = [.. Enumerable.Range(0, 462)];
}
