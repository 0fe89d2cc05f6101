namespace CloudHypervisor.ChRemote;

internal static class Program
{
    private static int Main() => 1;
}
