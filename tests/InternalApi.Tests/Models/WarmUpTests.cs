using CloudHypervisor.InternalApi.Json;
using Xunit;

namespace CloudHypervisor.InternalApi.Tests.Models;

/// <summary>The VMM builds the config's JSON metadata while it waits for the first vm.create.</summary>
public sealed class WarmUpTests
{
    [Fact]
    public void The_warm_up_parses_its_config_under_the_strict_policy_and_the_first_real_body_still_parses()
    {
        // Its sample body must stay a valid config: a field the model later requires would make
        // the warm-up throw in the background and warm nothing.
        ApiJson.WarmUp();

        var (config, error) = ApiJson.Deserialize("""{"payload":{"kernel":"/k"},"disks":[{"path":"/d"}]}"""u8, ApiJsonContext.Default.VmConfig);
        Assert.Null(error);
        Assert.Equal("/d", config!.Disks![0].Path);
    }
}
