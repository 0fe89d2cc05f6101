using System.Collections;
using System.Reflection;
using CloudHypervisor.InternalApi.Models;
using Xunit;

namespace CloudHypervisor.InternalApi.Tests.Models;

/// <summary>
/// VmConfig.Clone is written out by hand, one Copy per model class. These tests find the members
/// by reflection, so a member added to a model later and forgotten in its Copy fails here.
/// </summary>
public sealed class VmConfigCloneTests
{
    [Fact]
    public void A_clone_of_a_config_with_every_member_set_prints_the_same_and_keeps_the_descriptors()
    {
        var original = Filled();
        var copy = original.Clone();

        Assert.Equal(Wire.Print(original, Wire.VmConfig), Wire.Print(copy, Wire.VmConfig));
        // JSON prints every descriptor as -1, so they are compared as numbers.
        Assert.Equal(original.Net![0].Fds!, copy.Net![0].Fds!);
        Assert.Equal(original.Devices![0].Fd, copy.Devices![0].Fd);
        Assert.Equal(original.Platform!.IommufdFd, copy.Platform!.IommufdFd);
        Assert.NotNull(copy.Platform.IommufdFd);
    }

    [Fact]
    public void A_clone_of_a_config_with_every_member_set_shares_no_object_but_strings_at_any_depth()
    {
        var original = Filled();
        AssertEqualAndUnshared(original, original.Clone(), "config");
    }

    [Fact]
    public void A_clone_changed_afterwards_leaves_the_original_as_it_was()
    {
        var original = Filled();
        var before = Wire.Print(original, Wire.VmConfig);
        var copy = original.Clone();
        copy.Cpus.Affinity![0].HostCpus.Add(99);
        copy.Net![0].Fds!.Add(42);
        copy.Platform!.OemStrings!.Clear();
        copy.Disks![0].RateLimiterConfig!.Ops!.Size = 1;

        Assert.Equal(before, Wire.Print(original, Wire.VmConfig));
        Assert.Single(original.Net![0].Fds!);
    }

    [Fact]
    public void A_clone_keeps_a_null_element_that_the_json_let_into_a_list()
    {
        var original = Wire.Parse("""{"disks":[null],"memory":{"size":1048576,"zones":[null]}}""", Wire.VmConfig);
        var copy = original.Clone();

        Assert.Null(Assert.Single(copy.Disks!));
        Assert.Null(Assert.Single(copy.Memory.Zones!));
        Assert.Equal(Wire.Print(original, Wire.VmConfig), Wire.Print(copy, Wire.VmConfig));
    }

    [Fact]
    public void The_filled_config_sets_every_settable_member_to_a_non_default_value()
    {
        // Guards the two tests above: a member left null or zero would be compared trivially.
        AssertNothingUnset(Filled(), "config");
    }

    private static VmConfig Filled()
    {
        var counter = 0;
        return (VmConfig)Fill(typeof(VmConfig), "config", ref counter);
    }

    private static object Fill(Type type, string name, ref int counter)
    {
        counter++;
        if (Nullable.GetUnderlyingType(type) is { } underlying)
        {
            return Fill(underlying, name, ref counter);
        }

        if (type == typeof(string))
        {
            return "x" + name;
        }

        if (type == typeof(bool))
        {
            return true;
        }

        if (type.IsEnum)
        {
            var values = Enum.GetValues(type);
            return values.GetValue(values.Length - 1)!;
        }

        if (type.IsPrimitive)
        {
            // Small, nonzero and different per member, so a member copied from the wrong place shows.
            return Convert.ChangeType(1 + (counter % 100), type, System.Globalization.CultureInfo.InvariantCulture);
        }

        if (type.IsArray)
        {
            var array = Array.CreateInstance(type.GetElementType()!, 1);
            array.SetValue(Fill(type.GetElementType()!, name, ref counter), 0);
            return array;
        }

        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(List<>))
        {
            var list = (IList)Activator.CreateInstance(type)!;
            list.Add(Fill(type.GetGenericArguments()[0], name, ref counter));
            return list;
        }

        Assert.True(
            type.IsClass && type.Namespace == typeof(VmConfig).Namespace,
            $"{name}: {type} is not a kind of member this test knows how to fill; teach it, and the Copy methods");
        var value = Activator.CreateInstance(type)!;
        foreach (var property in Properties(type))
        {
            Assert.True(property.SetMethod is { IsPublic: true }, $"{name}.{property.Name} has no public setter");
            property.SetValue(value, Fill(property.PropertyType, property.Name, ref counter));
        }

        return value;
    }

    private static void AssertNothingUnset(object value, string path)
    {
        // Walks the fields, as Clone's MemberwiseClone copies them: each holds what was filled in.
        foreach (var field in Fields(value.GetType()))
        {
            var member = field.GetValue(value);
            Assert.True(member is not null, $"{path}.{field.Name} is null");
            // An enum with one value (CpuProfile has only Host) cannot be set to anything else.
            if (field.FieldType.IsValueType && !(field.FieldType.IsEnum && Enum.GetValues(field.FieldType).Length == 1))
            {
                var zero = Activator.CreateInstance(Nullable.GetUnderlyingType(field.FieldType) ?? field.FieldType);
                Assert.False(Equals(zero, member), $"{path}.{field.Name} is {member}, its default");
            }

            if (member is IList list)
            {
                Assert.Single(list);
                member = list[0];
            }

            if (member!.GetType().IsClass && member.GetType().Namespace == typeof(VmConfig).Namespace)
            {
                AssertNothingUnset(member, $"{path}.{field.Name}");
            }
        }
    }

    private static void AssertEqualAndUnshared(object? original, object? copy, string path)
    {
        if (original is null || copy is null)
        {
            Assert.True(original is null && copy is null, $"{path}: {original ?? "null"} was copied as {copy ?? "null"}");
            return;
        }

        Assert.Equal(original.GetType(), copy.GetType());
        if (original is string || original.GetType().IsValueType)
        {
            Assert.True(Equals(original, copy), $"{path}: {original} was copied as {copy}");
            return;
        }

        Assert.False(ReferenceEquals(original, copy), $"{path} is shared between the original and the copy");
        if (original is IList originalList)
        {
            var copyList = (IList)copy;
            Assert.Equal(originalList.Count, copyList.Count);
            for (var i = 0; i < originalList.Count; i++)
            {
                AssertEqualAndUnshared(originalList[i], copyList[i], $"{path}[{i}]");
            }

            return;
        }

        Assert.True(
            original.GetType().Namespace == typeof(VmConfig).Namespace,
            $"{path}: {original.GetType()} is not a kind of member this test knows how to compare");
        foreach (var field in Fields(original.GetType()))
        {
            AssertEqualAndUnshared(field.GetValue(original), field.GetValue(copy), $"{path}.{field.Name}");
        }
    }

    private static IEnumerable<PropertyInfo> Properties(Type type) =>
        type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.GetIndexParameters().Length == 0);

    private static FieldInfo[] Fields(Type type) =>
        type.GetFields(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance);
}
