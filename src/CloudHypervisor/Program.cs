namespace CloudHypervisor;

internal static class Program
{
    private static int Main() => 1;
}
