#if DBUS_API
using CloudHypervisor.InternalApi;

namespace CloudHypervisor.Frontends.DBus.Tests;

/// <summary>The error table of DESIGN.md, kind by kind.</summary>
public sealed class DBusErrorsTests
{
    [Theory]
    [InlineData(ApiErrorKind.NotCreated, "org.cloudhypervisor.DBusApi1.Error.NotCreated")]
    [InlineData(ApiErrorKind.NotFound, "org.cloudhypervisor.DBusApi1.Error.NotFound")]
    [InlineData(ApiErrorKind.InvalidState, "org.cloudhypervisor.DBusApi1.Error.InvalidState")]
    [InlineData(ApiErrorKind.AlreadyExists, "org.cloudhypervisor.DBusApi1.Error.AlreadyExists")]
    [InlineData(ApiErrorKind.InvalidArgument, "org.cloudhypervisor.DBusApi1.Error.InvalidArgument")]
    [InlineData(ApiErrorKind.PayloadTooLarge, "org.cloudhypervisor.DBusApi1.Error.InvalidArgument")]
    [InlineData(ApiErrorKind.Busy, "org.cloudhypervisor.DBusApi1.Error.Busy")]
    [InlineData(ApiErrorKind.Internal, "org.cloudhypervisor.DBusApi1.Error.Failed")]
    public void Each_error_kind_has_the_error_name_of_the_design_table(ApiErrorKind kind, string name) =>
        Assert.Equal(name, DBusErrors.NameOf(kind));

    [Fact]
    public void Every_kind_reads_back_from_its_name_except_PayloadTooLarge_which_reads_as_InvalidArgument()
    {
        foreach (var kind in Enum.GetValues<ApiErrorKind>())
        {
            Assert.Equal(kind == ApiErrorKind.PayloadTooLarge ? ApiErrorKind.InvalidArgument : kind, DBusErrors.KindOf(DBusErrors.NameOf(kind)));
        }

        Assert.Null(DBusErrors.KindOf("org.freedesktop.DBus.Error.UnknownMethod"));
    }

    [Fact]
    public void The_message_is_the_whole_chain_on_one_line_as_the_REST_array_lists_it()
    {
        var error = ApiError.For(ApiCatalog.VmBoot, ApiErrorKind.Internal, "Cannot load the kernel", "No such file or directory");

        Assert.Equal("Error from API: The VM could not boot: Cannot load the kernel: No such file or directory", DBusErrors.MessageOf(error));
    }
}
#endif
