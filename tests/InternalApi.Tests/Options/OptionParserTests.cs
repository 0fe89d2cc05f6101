using CloudHypervisor.InternalApi.Options;
using Xunit;

namespace CloudHypervisor.InternalApi.Tests.Options;

public sealed class OptionParserTests
{
    private static OptionParser Memory() =>
        new("size", "mergeable", "hotplug_method", "hotplug_size", "topology", "cmdline", "extra");

    [Fact]
    public void Known_keys_are_read_back_with_their_values()
    {
        var parser = Memory();
        Assert.Null(parser.Parse("size=128M,mergeable=on"));
        Assert.Equal("128M", parser.Get("size"));
        Assert.Equal("on", parser.Get("mergeable"));
        Assert.True(parser.IsSet("size"));
        Assert.False(parser.IsSet("hotplug_size"));
    }

    [Fact]
    public void An_unknown_key_is_an_error_naming_the_key()
    {
        Assert.Equal(OptionError.Of("Unknown option: file"), Memory().Parse("size=128M,file=/dev/shm"));
    }

    [Fact]
    public void A_bare_word_for_a_key_that_needs_a_value_is_invalid_syntax()
    {
        var parser = Memory();
        Assert.Equal(OptionError.Of("Invalid syntax: size"), parser.Parse("mergeable=on,size"));
        Assert.Equal(OptionError.Of("Unknown option: hanging_param"), parser.Parse("size=128M,hanging_param"));
    }

    [Fact]
    public void Equals_signs_inside_a_value_are_kept()
    {
        var parser = Memory();
        Assert.Null(parser.Parse("extra=foo=bar"));
        Assert.Equal("foo=bar", parser.Get("extra"));
    }

    [Fact]
    public void Brackets_protect_inner_commas_even_when_nested()
    {
        var parser = Memory();
        Assert.Null(parser.Parse("size=128M,mergeable=on,topology=[[1,2],[3,4]]"));
        Assert.Equal("[[1,2],[3,4]]", parser.Get("topology"));
        Assert.Equal("on", parser.Get("mergeable"));
    }

    [Theory]
    [InlineData("topology=[")]
    [InlineData("topology=[[[]]]]")]
    [InlineData("topology=]")]
    [InlineData("cmdline=\"")]
    [InlineData("cmdline=\"\"\"")]
    public void Unbalanced_brackets_or_quotes_are_invalid_syntax_quoting_the_input(string input)
    {
        Assert.Equal(OptionError.Of($"Invalid syntax: {input}"), Memory().Parse(input));
    }

    [Fact]
    public void Double_quotes_hide_commas_and_are_removed_when_read()
    {
        var parser = Memory();
        Assert.Null(parser.Parse("cmdline=\"console=ttyS0,9600n8\",size=1G"));
        Assert.Equal("console=ttyS0,9600n8", parser.Get("cmdline"));
        Assert.Equal("\"console=ttyS0,9600n8\"", parser.Raw("cmdline"));
        Assert.Equal("1G", parser.Get("size"));
    }

    [Fact]
    public void Brackets_inside_quotes_are_plain_text()
    {
        var parser = Memory();
        Assert.Null(parser.Parse("cmdline=\"a[b,c\""));
        Assert.Equal("a[b,c", parser.Get("cmdline"));
    }

    [Fact]
    public void Blank_input_sets_nothing()
    {
        var parser = Memory();
        Assert.Null(parser.Parse(""));
        Assert.Null(parser.Parse("   "));
        Assert.False(parser.IsSet("size"));
    }

    [Fact]
    public void An_empty_value_is_set_but_reads_as_absent()
    {
        var parser = Memory();
        Assert.Null(parser.Parse("size="));
        Assert.True(parser.IsSet("size"));
        Assert.Null(parser.Get("size"));
        Assert.Null(parser.Size("size"));
        Assert.Null(parser.Error);
    }

    [Fact]
    public void Values_are_trimmed_but_keys_are_not()
    {
        var parser = Memory();
        Assert.Null(parser.Parse("size= 1G "));
        Assert.Equal("1G", parser.Get("size"));
        Assert.Equal(OptionError.Of("Unknown option:  size"), parser.Parse("mergeable=on, size=1G"));
    }

    [Fact]
    public void Options_before_a_failing_part_stay_set()
    {
        var parser = new OptionParser("path", "fd");
        Assert.Equal(OptionError.Of("Unknown option: foo"), parser.Parse("path=/a,foo=b"));
        Assert.Equal("/a", parser.Get("path"));
    }

    [Fact]
    public void A_later_duplicate_wins()
    {
        var parser = Memory();
        Assert.Null(parser.Parse("size=1G,size=2G"));
        Assert.Equal(2UL << 30, parser.Size("size"));
    }

    [Fact]
    public void Valueless_keys_are_bare_words()
    {
        var parser = new OptionParser("file").AddValueless("off", "tty");
        Assert.Null(parser.Parse("tty"));
        Assert.True(parser.IsSet("tty"));
        Assert.Null(parser.Get("tty"));
        Assert.False(parser.IsSet("off"));
    }

    [Fact]
    public void A_subset_parse_skips_unknown_keys()
    {
        var parser = new OptionParser("id");
        Assert.Null(parser.ParseSubset("path=/a,id=d0"));
        Assert.Equal("d0", parser.Get("id"));
    }

    [Fact]
    public void A_value_that_does_not_convert_is_reported_with_its_key_and_the_fallback_is_returned()
    {
        var parser = new OptionParser("readonly", "num_queues", "size");
        Assert.Null(parser.Parse("readonly=maybe,num_queues=x,size=1X"));
        Assert.True(parser.Toggle("readonly", true));
        Assert.Null(parser.Number<ushort>("num_queues"));
        Assert.Null(parser.Size("size"));
        Assert.Equal(OptionError.Of("Unable to convert maybe for readonly"), parser.Error);
    }

    [Fact]
    public void Numbers_refuse_overflow_signs_and_white_space()
    {
        var parser = new OptionParser("a", "b", "c", "d");
        Assert.Null(parser.Parse("a=256,b=-1,c=+7,d=42"));
        Assert.Null(parser.Number<byte>("a"));
        Assert.Equal(OptionError.Of("Unable to convert 256 for a"), parser.Error);
        Assert.Null(parser.Number<uint>("b"));
        Assert.Equal((ushort)7, parser.Number<ushort>("c"));
        Assert.Equal(-1, new OptionParser("b").Also(p => p.Parse("b=-1")).Number<int>("b"));
        Assert.Equal(42UL, parser.Number<ulong>("d"));
    }

    [Fact]
    public void Quoted_numbers_are_dequoted_before_conversion()
    {
        var parser = new OptionParser("n");
        Assert.Null(parser.Parse("n=\"12\""));
        Assert.Equal(12U, parser.Number<uint>("n"));
    }

    [Fact]
    public void Lists_and_tuples_are_read_from_bracketed_values()
    {
        var parser = new OptionParser("cpus", "zones", "affinity");
        Assert.Null(parser.Parse("cpus=[0,2-4],zones=[mem0,mem1],affinity=[0@[0,2],1@[1-3]]"));
        Assert.Equal([0U, 2U, 3U, 4U], parser.IntegerList<uint>("cpus"));
        Assert.Equal(["mem0", "mem1"], parser.StringList("zones"));
        var affinity = parser.TupleList<uint, List<ulong>>("affinity", OptionSyntax.TryParseInteger, OptionSyntax.TryParseIntegerList);
        Assert.NotNull(affinity);
        Assert.Equal(2, affinity.Count);
        Assert.Equal(0U, affinity[0].Key);
        Assert.Equal([0UL, 2UL], affinity[0].Value);
        Assert.Equal(1U, affinity[1].Key);
        Assert.Equal([1UL, 2UL, 3UL], affinity[1].Value);
        Assert.Null(parser.Error);
    }

    [Fact]
    public void An_empty_part_between_commas_is_an_unknown_empty_key()
    {
        Assert.Equal(OptionError.Of("Unknown option: "), Memory().Parse("size=1G,,mergeable=on"));
        Assert.Equal(OptionError.Of("Unknown option: "), Memory().Parse("size=1G,"));
    }

    [Fact]
    public void A_key_with_a_value_for_a_valueless_key_is_accepted_and_the_value_ignored()
    {
        var parser = new OptionParser().AddValueless("tty");
        Assert.Null(parser.Parse("tty=yes"));
        Assert.True(parser.IsSet("tty"));
    }

    [Fact]
    public void Option_names_with_splitter_characters_are_refused_at_registration()
    {
        Assert.Throws<ArgumentException>(() => new OptionParser("a=b"));
    }
}

internal static class OptionParserTestExtensions
{
    public static OptionParser Also(this OptionParser parser, Action<OptionParser> action)
    {
        action(parser);
        return parser;
    }
}
