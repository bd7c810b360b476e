"""atu_ext.resampling: the paddings every ×2 resampling path shares, against rosinality's known values
and against the closed form of each path's output size (the size doubles or halves exactly)."""

import pytest

from atu_ext.resampling import both_axes, strided_conv_padding, transposed_conv_padding, upsample_padding


def test_rosinalitys_values_for_the_default_filter_and_3x3_weights():
    # StyleGAN2's [1, 3, 3, 1] filter: Upsample pads (2, 1), the blur after an upsampling conv (1, 1),
    # the blur before a downsampling conv (2, 2)
    assert upsample_padding(4) == (2, 1)
    assert transposed_conv_padding(4, 3) == (1, 1)
    assert strided_conv_padding(4, 3) == (2, 2)
    assert both_axes((1, 2), (3, 4)) == [1, 2, 3, 4]


@pytest.mark.parametrize("taps", [2, 4, 6])
@pytest.mark.parametrize("kernel", [1, 3, 5])
@pytest.mark.parametrize("size", [4, 8, 16])
def test_each_path_doubles_or_halves_the_size_exactly(taps, kernel, size):
    filtered = lambda n, pad: n + pad[0] + pad[1] - taps + 1  # noqa: E731  (FIR, valid)
    # transposed conv, stride 2: 2n + k - 2 values, then the filter
    assert filtered(2 * size + kernel - 2, transposed_conv_padding(taps, kernel)) == 2 * size
    # filter, then a stride-2 conv with a k-wide weight
    assert (filtered(size, strided_conv_padding(taps, kernel)) - kernel) // 2 + 1 == size // 2
    # zero insertion (up=2: 2n values), then the filter
    assert filtered(2 * size, upsample_padding(taps)) == 2 * size
