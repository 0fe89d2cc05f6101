using CloudHypervisor.InternalApi.Options;
using Xunit;

namespace CloudHypervisor.InternalApi.Tests.Options;

/// <summary>Assertions that show the whole chain or value when an option test fails.</summary>
internal static class OptionAssert
{
    public static T Ok<T>(OptionResult<T> result)
    {
        Assert.True(result.IsOk, $"expected success, got {result.Error}");
        return result.Value;
    }

    public static void Fails<T>(OptionResult<T> result, params string[] chain)
    {
        Assert.False(result.IsOk, $"expected failure {string.Join(" / ", chain)}, got {result}");
        Assert.Equal(chain, result.Error.Chain);
    }
}
