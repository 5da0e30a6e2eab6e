def rearrange(x, pattern):
    assert pattern.replace(" ", "") == "btlc->(bl)tc", pattern
    b, t, l, c = x.shape
    return x.permute(0, 2, 1, 3).reshape(b * l, t, c)
