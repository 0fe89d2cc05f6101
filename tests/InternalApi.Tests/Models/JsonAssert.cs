using System.Text;
using CloudHypervisor.InternalApi;
using CloudHypervisor.InternalApi.Json;
using CloudHypervisor.InternalApi.Models;
using System.Text.Json.Serialization.Metadata;
using Xunit;

namespace CloudHypervisor.InternalApi.Tests.Models;

/// <summary>Parse and print through the one JSON policy, as the frontends do.</summary>
internal static class Wire
{
    public static T Parse<T>(string json, JsonTypeInfo<T> type) where T : class
    {
        var (value, error) = ApiJson.Deserialize(Encoding.UTF8.GetBytes(json), type);
        Assert.Null(error);
        return value!;
    }

    public static ApiError Reject<T>(string json, JsonTypeInfo<T> type) where T : class
    {
        var (value, error) = ApiJson.Deserialize(Encoding.UTF8.GetBytes(json), type);
        Assert.Null(value);
        Assert.NotNull(error);
        Assert.Equal(ApiErrorKind.InvalidArgument, error.Kind);
        Assert.Equal(ApiJson.DeserializeFailed, error.Message);
        return error;
    }

    public static string Print<T>(T value, JsonTypeInfo<T> type) => ApiJson.Serialize(value, type);

    /// <summary>Parse then print: what vm.info would show for a body sent to vm.create.</summary>
    public static string RoundTrip<T>(string json, JsonTypeInfo<T> type) where T : class =>
        Print(Parse(json, type), type);

    public static JsonTypeInfo<VmConfig> VmConfig => ApiJsonContext.Default.VmConfig;
}
