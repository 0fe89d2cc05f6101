using CloudHypervisor.InternalApi.Options;
using Xunit;

namespace CloudHypervisor.InternalApi.Tests.Options;

public sealed class OptionSyntaxTests
{
    [Theory]
    [InlineData("on", true)]
    [InlineData("ON", true)]
    [InlineData("True", true)]
    [InlineData("true", true)]
    [InlineData("off", false)]
    [InlineData("OFF", false)]
    [InlineData("False", false)]
    [InlineData("", false)]
    public void Toggles_accept_on_off_true_false_in_any_case_and_empty_as_false(string text, bool expected)
    {
        Assert.True(OptionSyntax.TryParseToggle(text, out var value));
        Assert.Equal(expected, value);
    }

    [Theory]
    [InlineData("maybe")]
    [InlineData("1")]
    [InlineData("yes")]
    public void Other_toggle_words_are_refused(string text)
    {
        Assert.False(OptionSyntax.TryParseToggle(text, out _));
    }

    [Theory]
    [InlineData("1024", 1024UL)]
    [InlineData("1K", 1024UL)]
    [InlineData("2M", 2UL << 20)]
    [InlineData("4G", 4UL << 30)]
    [InlineData("512M", 512UL << 20)]
    [InlineData("0K", 0UL)]
    [InlineData(" 8K ", 8192UL)]
    public void Sizes_take_binary_K_M_G_suffixes(string text, ulong expected)
    {
        Assert.True(OptionSyntax.TryParseSize(text, out var bytes));
        Assert.Equal(expected, bytes);
    }

    [Theory]
    [InlineData("")]
    [InlineData("xyzK")]
    [InlineData("1T")]
    [InlineData("1k")]
    [InlineData("-1M")]
    [InlineData("1.5G")]
    public void Sizes_refuse_other_text(string text)
    {
        Assert.False(OptionSyntax.TryParseSize(text, out _));
    }

    [Theory]
    [InlineData("0xe9", 0xe9)]
    [InlineData("0x3f8", 0x3f8)]
    [InlineData("0xFFFF", 0xffff)]
    public void Hex_needs_the_0x_prefix(string text, int expected)
    {
        Assert.True(OptionSyntax.TryParseHex(text, out ushort value));
        Assert.Equal(expected, value);
    }

    [Theory]
    [InlineData("e9")]
    [InlineData("233")]
    [InlineData("0x")]
    [InlineData("0x10000")]
    [InlineData("0xzz")]
    public void Hex_without_prefix_or_out_of_range_is_refused(string text)
    {
        Assert.False(OptionSyntax.TryParseHex(text, out ushort _));
    }

    [Fact]
    public void Integer_lists_expand_ranges()
    {
        Assert.True(OptionSyntax.TryParseIntegerList("[0,2-4,7]", out List<ulong> values));
        Assert.Equal([0UL, 2UL, 3UL, 4UL, 7UL], values);
        Assert.True(OptionSyntax.TryParseIntegerList("5", out List<ulong> single));
        Assert.Equal([5UL], single);
    }

    [Theory]
    [InlineData("[5-3]")]
    [InlineData("[5-5]")]
    [InlineData("[1-2-3]")]
    [InlineData("[]")]
    [InlineData("[1, 2]")]
    [InlineData("[a]")]
    [InlineData("[0-4294967295]")]
    public void Malformed_integer_lists_are_refused(string text)
    {
        Assert.False(OptionSyntax.TryParseIntegerList(text, out List<ulong> _));
    }

    [Fact]
    public void Integer_list_elements_must_fit_the_element_type()
    {
        Assert.True(OptionSyntax.TryParseIntegerList("[1,3-5]", out List<ushort> narrow));
        Assert.Equal([(ushort)1, (ushort)3, (ushort)4, (ushort)5], narrow);
        Assert.False(OptionSyntax.TryParseIntegerList("[65536]", out List<ushort> _));
        Assert.False(OptionSyntax.TryParseIntegerList("[256]", out List<byte> _));
    }

    [Fact]
    public void String_lists_take_brackets_or_not()
    {
        Assert.True(OptionSyntax.TryParseStringList("[foo,bar,baz]", out var list));
        Assert.Equal(["foo", "bar", "baz"], list);
        Assert.True(OptionSyntax.TryParseStringList("foo,bar", out var bare));
        Assert.Equal(["foo", "bar"], bare);
    }

    [Fact]
    public void Tuple_lists_trim_elements_and_parse_both_halves()
    {
        Assert.True(OptionSyntax.TryParseTupleList<string, List<ulong>>(
            "[a@[1,2], b@[3,4] ,\tc@[5,6]]", Text, OptionSyntax.TryParseIntegerList, out var tuples));
        Assert.Equal(["a", "b", "c"], tuples.Select(t => t.Key));
        Assert.Equal([5UL, 6UL], tuples[2].Value);
    }

    [Fact]
    public void Tuple_keys_may_quote_an_at_sign()
    {
        Assert.True(OptionSyntax.TryParseTupleList<string, List<byte>>(
            "[\"@\"\"b\"@[1,2]]", Text, OptionSyntax.TryParseIntegerList, out var tuples));
        Assert.Equal("@\"b", tuples[0].Key);
        Assert.Equal([(byte)1, (byte)2], tuples[0].Value);
    }

    [Theory]
    [InlineData("[@1]")]
    [InlineData("[@]")]
    [InlineData("[id1@]")]
    [InlineData("[id1 1]")]
    [InlineData("[[id1@1]]")]
    [InlineData("id1@1")]
    [InlineData("[a@1@2]")]
    [InlineData("[a@ 1]")]
    public void Malformed_tuple_lists_are_refused(string text)
    {
        Assert.False(OptionSyntax.TryParseTupleList<string, uint>(text, Text, OptionSyntax.TryParseInteger, out _));
    }

    [Theory]
    [InlineData("a\u03b2\"a\"\"\"", "a\u03b2a\"")]
    [InlineData("a=\"b\"", "a=b")]
    [InlineData("plain", "plain")]
    [InlineData("\"\"", "")]
    public void Dequoting_removes_quotes_and_keeps_doubled_ones(string text, string expected)
    {
        Assert.Equal(expected, OptionSyntax.Dequote(text));
    }

    [Theory]
    [InlineData("", "cannot parse integer from empty string")]
    [InlineData("abc", "invalid digit found in string")]
    [InlineData("99999999999", "number too large to fit in target type")]
    [InlineData("-99999999999", "number too small to fit in target type")]
    public void Integer_errors_use_Rust_wording(string text, string expected)
    {
        Assert.Equal(expected, OptionSyntax.DescribeIntegerError<int>(text));
    }

    private static bool Text(string text, out string value)
    {
        value = text;
        return true;
    }
}
