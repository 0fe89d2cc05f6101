using CloudHypervisor.InternalApi;
using Xunit;

namespace CloudHypervisor.Frontends.Rest.Tests;

// Routing is a pure function of (method, raw target): these are equality checks.
public sealed class RestRoutesTests
{
    public static TheoryData<string> ActionNames() => [.. ApiCatalog.All.Select(a => a.Name)];

    [Theory]
    [MemberData(nameof(ActionNames))]
    public void Every_catalog_action_is_routed_by_its_path_and_verb(string name)
    {
        var action = ApiCatalog.Find(name)!;
        var verb = action.Verb == ApiVerb.Get ? "GET" : "PUT";
        var other = action.Verb == ApiVerb.Get ? "PUT" : "GET";

        Assert.Equal(new RouteMatch(RouteKind.Action, action), RestRoutes.Match(verb, "/api/v1/" + name));
        Assert.Equal(new RouteMatch(RouteKind.Action, action), RestRoutes.Match(verb, "http://localhost/api/v1/" + name));
        Assert.Equal(new RouteMatch(RouteKind.MethodNotAllowed, action, Allow: verb), RestRoutes.Match(other, "/api/v1/" + name));
        Assert.Equal(new RouteMatch(RouteKind.MethodNotAllowed, action, Allow: verb), RestRoutes.Match("DELETE", "/api/v1/" + name));
    }

    [Theory]
    [InlineData("/api/v1/vm.info/")]
    [InlineData("/api/v1/vm.info?x=1")]
    [InlineData("/api/v1/vm.info?")]
    [InlineData("/api/v1/VM.INFO")]
    [InlineData("/API/v1/vm.info")]
    [InlineData("/api/v2/vm.info")]
    [InlineData("/api/v1/../v1/vm.info")]
    [InlineData("/api/v1/./vm.info")]
    [InlineData("/api/v1/vm%2Einfo")]
    [InlineData("//api/v1/vm.info")]
    [InlineData("/api/v1/")]
    [InlineData("/api/v1")]
    [InlineData("/")]
    [InlineData("*")]
    [InlineData("/api/v1/eventsx")]
    [InlineData("/api/v1/events/")]
    [InlineData("http://localhost")]
    public void Anything_but_an_exact_route_is_not_found(string target)
    {
        Assert.Equal(new RouteMatch(RouteKind.NotFound), RestRoutes.Match("GET", target));
    }

    [Theory]
    [InlineData("/api/v1/events", null)]
    [InlineData("/api/v1/events?since=0", 0L)]
    [InlineData("/api/v1/events?since=42", 42L)]
    [InlineData("http://localhost/api/v1/events?since=7", 7L)]
    public void Events_are_routed_with_an_optional_since(string target, long? since)
    {
        Assert.Equal(new RouteMatch(RouteKind.Events, Since: since), RestRoutes.Match("GET", target));
    }

    [Theory]
    [InlineData("/api/v1/events?follow=false", null, false)]
    [InlineData("/api/v1/events?since=3&follow=false", 3L, false)]
    [InlineData("/api/v1/events?follow=true&since=3", 3L, true)]
    public void Events_take_an_optional_follow_in_either_order(string target, long? since, bool follow)
    {
        Assert.Equal(new RouteMatch(RouteKind.Events, Since: since, Follow: follow), RestRoutes.Match("GET", target));
    }

    [Theory]
    [InlineData("/api/v1/events?since=")]
    [InlineData("/api/v1/events?follow=maybe")]
    [InlineData("/api/v1/events?follow=false&follow=true")]
    [InlineData("/api/v1/events?since=1&since=2")]
    [InlineData("/api/v1/events?since=-1")]
    [InlineData("/api/v1/events?since=1x")]
    [InlineData("/api/v1/events?since=+1")]
    [InlineData("/api/v1/events?since=99999999999999999999")]
    [InlineData("/api/v1/events?from=1")]
    [InlineData("/api/v1/events?since=1&x=2")]
    public void A_bad_events_query_is_a_bad_query(string target)
    {
        Assert.Equal(new RouteMatch(RouteKind.BadQuery), RestRoutes.Match("GET", target));
    }

    [Fact]
    public void Events_accept_only_GET()
    {
        Assert.Equal(new RouteMatch(RouteKind.MethodNotAllowed, Allow: "GET"), RestRoutes.Match("PUT", "/api/v1/events"));
    }

    [Fact]
    public void Methods_are_case_sensitive()
    {
        Assert.Equal(RouteKind.MethodNotAllowed, RestRoutes.Match("get", "/api/v1/vmm.ping").Kind);
    }
}
