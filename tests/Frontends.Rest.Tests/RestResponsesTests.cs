using CloudHypervisor.InternalApi;
using Xunit;

namespace CloudHypervisor.Frontends.Rest.Tests;

public sealed class RestResponsesTests
{
    // DESIGN.md "Error kinds", the HTTP column.
    public static TheoryData<ApiErrorKind, int> Table() => new()
    {
        { ApiErrorKind.NotCreated, 404 },
        { ApiErrorKind.NotFound, 404 },
        { ApiErrorKind.InvalidState, 409 },
        { ApiErrorKind.AlreadyExists, 409 },
        { ApiErrorKind.InvalidArgument, 400 },
        { ApiErrorKind.PayloadTooLarge, 413 },
        { ApiErrorKind.Busy, 429 },
        { ApiErrorKind.Internal, 500 },
    };

    [Theory]
    [MemberData(nameof(Table))]
    public void Each_error_kind_has_the_design_status(ApiErrorKind kind, int status)
    {
        Assert.Equal(status, RestResponses.StatusOf(kind));
    }

    [Fact]
    public void The_design_table_covers_every_error_kind()
    {
        Assert.Equal(Enum.GetValues<ApiErrorKind>().Order(), Table().Select(row => (ApiErrorKind)row[0]).Order());
    }
}
