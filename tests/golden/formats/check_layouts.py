#!/usr/bin/env python3
"""check_layouts.py: an independent check of mcomp's quantized checkpoint layouts.

tests/unit/engine/write_format_samples writes one small safetensors file per (format,
scheme) case: the packed tensors of a random layer (layer.*), the layer as it went in
(input.codes / input.scales / input.zeros / input.g_idx), mcomp's dequantized weight
(expected.weight), and the quantization_config in the metadata. This script unpacks the
packed tensors with its own transcription of each library's reference code -- not
mcomp's -- and checks, for every sample:
  * codes, zero points and g_idx equal the inputs;
  * stored scales equal the input scales rounded to nearest even in the stored dtype;
  * scale * (code - zero), computed here, equals mcomp's expected.weight bit for bit;
  * the quantization_config carries the keys and values the loaders read, consistent
    with the tensors.
The references transcribed below:
  GPTQ  AutoGPTQ auto_gptq/nn_modules/qlinear/qlinear_cuda_old.py, forward()'s torch
        dequantization (wf shift tables, the 3-bit fix-ups of values 10 and 21, zeros + 1),
        and GPTQModel's v1 correction (each zero field + 1 mod 2^bits; gptq_v2 as stored).
  AWQ   AutoAWQ awq/utils/packing_utils.py: unpack_awq, reverse_awq_order
        (AWQ_REVERSE_ORDER = [0, 4, 1, 5, 2, 6, 3, 7]), dequantize_gemm.
  CT    compressed-tensors compressors/quantized_compressors/pack_quantized.py:
        unpack_from_int32 (packed_dim 1 for weights, 0 for zero points, minus
        2^(bits-1)), and w = scale * (q - zp).
  2:4   compressed-tensors compressors/sparse_compressors/sparse_24_bitmask.py:
        sparse24_bitmask_decompress (dense[unpack_bitmasks(bitmask)] = compressed, row-major)
        with utils/helpers.py unpack_bitmasks (numpy.unpackbits(axis=-1, count=cols,
        bitorder="little")), and get_24_bytemasks' rule (top-2 |w| of every 4: exactly two
        marks per group, every non-zero marked). A sparse-24-bitmask sample holds the dense
        weight that went in (input.weight), compared bit for bit (sign of zero included).
Only the Python standard library is used (struct, json, math), so it runs wherever python3
does (numpy's packbits/unpackbits are transcribed below).

Usage:  python3 tests/golden/formats/check_layouts.py SAMPLES_DIR
Exit 0 when every sample passes, 1 when one fails, 77 (CTest skip) when there are none.
"""
import json
import math
import os
import struct
import sys

# ---- A small safetensors reader ---------------------------------------------------------

FORMATS = {"U8": "B", "I32": "I", "I64": "q", "F32": "f", "F16": "e", "BF16": "H"}


def read_safetensors(path):
    """Returns ({name: (dtype, shape, flat list)}, metadata). I32 is read unsigned."""
    with open(path, "rb") as f:
        data = f.read()
    (header_len,) = struct.unpack_from("<Q", data, 0)
    header = json.loads(data[8 : 8 + header_len])
    base = 8 + header_len
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        code = FORMATS[entry["dtype"]]
        count = (end - begin) // struct.calcsize(code)
        values = list(struct.unpack_from("<%d%s" % (count, code), data, base + begin))
        if entry["dtype"] == "BF16":
            values = [struct.unpack("<f", struct.pack("<I", v << 16))[0] for v in values]
        tensors[name] = (entry["dtype"], entry["shape"], values)
    return tensors, header.get("__metadata__", {})


def f32(x):
    """x rounded to float32 (inputs are float32 already: this is exact for them)."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


def round_scale(x, dtype):
    """Round to nearest even in dtype, as torch's .half() / .to(bfloat16) do."""
    if dtype == "F16":
        return struct.unpack("<e", struct.pack("<e", x))[0]  # CPython packs half RNE
    if dtype == "BF16":
        (bits,) = struct.unpack("<I", struct.pack("<f", x))
        bits = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
        return struct.unpack("<f", struct.pack("<I", bits << 16))[0]
    return x


def matrix(flat, rows, cols):
    return [flat[r * cols : (r + 1) * cols] for r in range(rows)]


# ---- GPTQ (AutoGPTQ / GPTQModel) ----------------------------------------------------------

WF3 = [
    [0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30, 0],
    [0, 1, 4, 7, 10, 13, 16, 19, 22, 25, 28, 31],
    [0, 2, 5, 8, 11, 14, 17, 20, 23, 26, 29, 0],
]


def unpack3(w0, w1, w2):
    """32 three-bit values from 3 words, as qlinear_cuda_old.forward() does."""
    a = [(w0 >> s) & 0x7 for s in WF3[0]]
    b = [(w1 >> s) & 0x7 for s in WF3[1]]
    c = [(w2 >> s) & 0x7 for s in WF3[2]]
    a[10] = (a[10] & 0x3) | ((b[0] << 2) & 0x4)
    b[11] = (b[11] & 0x1) | ((c[0] << 1) & 0x6)
    return a[:11] + b[1:12] + c[1:11]


def unpack_words(words, bits):
    """A run of words (along the packed dim) to its values, AutoGPTQ's rules."""
    if bits == 3:
        out = []
        for k in range(0, len(words), 3):
            out += unpack3(words[k], words[k + 1], words[k + 2])
        return out
    mask = (1 << bits) - 1
    return [(w >> s) & mask for w in words for s in range(0, 32, bits)]


def check_gptq(t, config, inputs):
    bits, group_size = config["bits"], config["group_size"]
    out, inn = inputs["out"], inputs["in"]
    qweight = matrix(t["layer.qweight"][2], inn * bits // 32, out)
    expect(t["layer.qweight"][1] == [inn * bits // 32, out], "qweight shape")
    groups = 1 if group_size == -1 else -(-inn // group_size)
    expect(t["layer.scales"][0] == "F16", "scales dtype is F16")
    expect(t["layer.scales"][1] == [groups, out], "scales shape")
    expect(t["layer.qzeros"][1] == [groups, out * bits // 32], "qzeros shape")
    codes = [[0] * inn for _ in range(out)]
    for o in range(out):
        column = unpack_words([row[o] for row in qweight], bits)
        for i in range(inn):
            codes[o][i] = column[i]
    qzeros = matrix(t["layer.qzeros"][2], groups, out * bits // 32)
    mask = (1 << bits) - 1
    v1 = config.get("checkpoint_format", "gptq") == "gptq"
    zeros, per_field_readers = [], 0
    for g in range(groups):
        fields = unpack_words(qzeros[g], bits)
        zeros.append([((f + 1) & mask) if v1 else f for f in fields])
        per_field_readers += sum(1 for f in fields if v1 and f + 1 > mask)
    scales = matrix(t["layer.scales"][2], groups, out)
    g_idx = t["layer.g_idx"][2]
    layer = dict(codes=codes, g_idx=g_idx,
                 zero=lambda o, g: zeros[g][o], scale=lambda o, g: scales[g][o])
    compare_layer(layer, inputs, "F16")
    expect(config["quant_method"] == "gptq", "quant_method gptq")
    expect(config["desc_act"] or g_idx == sequential(inn, group_size),
           "g_idx is sequential unless desc_act")
    half = 1 << (bits - 1)
    expect(not config["sym"] or all(z == half for row in zeros for z in row),
           "sym means every zero is 2^(bits-1)")
    expect(config["checkpoint_format"] in ("gptq", "gptq_v2"), "checkpoint_format")
    if per_field_readers:
        note("%d v1 zero fields read as 2^bits by per-field kernels" % per_field_readers)


# ---- AWQ GEMM (AutoAWQ) -----------------------------------------------------------------

AWQ_REVERSE_ORDER = [0, 4, 1, 5, 2, 6, 3, 7]


def unpack_awq_rows(flat, rows, cols_packed):
    """unpack_awq + reverse_awq_order of AutoAWQ's packing_utils, for 4 bits."""
    out = []
    for r in range(rows):
        words = flat[r * cols_packed : (r + 1) * cols_packed]
        iw = [(w >> s) & 0xF for w in words for s in range(0, 32, 4)]
        out.append([iw[8 * (j // 8) + AWQ_REVERSE_ORDER[j % 8]] for j in range(len(iw))])
    return out


def check_awq(t, config, inputs):
    out, inn = inputs["out"], inputs["in"]
    group_size = config["group_size"] if config["group_size"] != -1 else inn
    groups = inn // group_size
    expect(t["layer.qweight"][1] == [inn, out // 8], "qweight shape")
    expect(t["layer.qzeros"][1] == [groups, out // 8], "qzeros shape")
    expect(t["layer.scales"][1] == [groups, out] and t["layer.scales"][0] == "F16", "scales")
    iweight = unpack_awq_rows(t["layer.qweight"][2], inn, out // 8)  # [in, out]
    izeros = unpack_awq_rows(t["layer.qzeros"][2], groups, out // 8)  # [groups, out]
    scales = matrix(t["layer.scales"][2], groups, out)
    layer = dict(codes=[[iweight[i][o] for i in range(inn)] for o in range(out)],
                 g_idx=[i // group_size for i in range(inn)],  # repeat_interleave(group_size)
                 zero=lambda o, g: izeros[g][o], scale=lambda o, g: scales[g][o])
    compare_layer(layer, inputs, "F16")
    expect(config["quant_method"] == "awq" and config["version"] == "gemm", "awq gemm")
    expect(config["bits"] == 4 and config["zero_point"] is True, "bits 4 with zero points")


# ---- compressed-tensors pack-quantized ----------------------------------------------------


def unpack_from_int32(flat, rows, cols, bits, shape, packed_dim):
    """compressed-tensors' unpack_from_int32: returns signed values cropped to shape."""
    pack_factor = 32 // bits
    mask = (1 << bits) - 1
    offset = (1 << bits) // 2
    value = matrix(flat, rows, cols)
    if packed_dim == 1:
        unpacked = [[0] * (cols * pack_factor) for _ in range(rows)]
        for i in range(pack_factor):
            for r in range(rows):
                for c in range(cols):
                    unpacked[r][c * pack_factor + i] = (value[r][c] >> (bits * i)) & mask
        unpacked = [row[: shape[1]] for row in unpacked]
    else:
        unpacked = [[0] * cols for _ in range(rows * pack_factor)]
        for i in range(pack_factor):
            for r in range(rows):
                for c in range(cols):
                    unpacked[r * pack_factor + i][c] = (value[r][c] >> (bits * i)) & mask
        unpacked = unpacked[: shape[0]]
    return [[v - offset for v in row] for row in unpacked]


def check_compressed_tensors(t, config, inputs):
    group = config["config_groups"]["group_0"]
    weights = group["weights"]
    bits = weights["num_bits"]
    out, inn = inputs["out"], inputs["in"]
    shape = t["layer.weight_shape"][2]
    expect(t["layer.weight_shape"][0] == "I64" and shape == [out, inn], "weight_shape")
    pf = 32 // bits
    packed_cols = -(-inn // pf)
    expect(t["layer.weight_packed"][1] == [out, packed_cols], "weight_packed shape")
    q = unpack_from_int32(t["layer.weight_packed"][2], out, packed_cols, bits, shape, 1)
    channel = weights["strategy"] == "channel"
    groups = 1 if channel else -(-inn // weights["group_size"])
    dtype, scale_shape, scale_flat = t["layer.weight_scale"]
    expect(scale_shape == [out, groups], "weight_scale shape")
    scales = matrix(scale_flat, out, groups)
    if weights["symmetric"]:
        expect("layer.weight_zero_point" not in t, "no zero point when symmetric")
        zp = [[0] * groups for _ in range(out)]
    else:
        zrows = -(-out // pf)
        expect(t["layer.weight_zero_point"][1] == [zrows, groups], "weight_zero_point shape")
        zp = unpack_from_int32(t["layer.weight_zero_point"][2], zrows, groups, bits, shape, 0)
    if weights["actorder"] == "group":
        g_idx = t["layer.weight_g_idx"][2]
    else:
        expect("layer.weight_g_idx" not in t, "no g_idx without actorder group")
        g_idx = sequential(inn, -1 if channel else weights["group_size"])
    off = 1 << (bits - 1)
    # Signed q - zp is what compressed-tensors dequantizes; codes are q + 2^(bits-1).
    layer = dict(codes=[[v + off for v in row] for row in q], g_idx=g_idx,
                 zero=lambda o, g: zp[o][g] + off, scale=lambda o, g: scales[o][g])
    compare_layer(layer, inputs, dtype)
    expect(config["quant_method"] == "compressed-tensors", "quant_method")
    expect(config["format"] == "pack-quantized" and group["format"] == "pack-quantized", "format")
    expect(config["quantization_status"] == "compressed", "quantization_status")
    expect(weights["type"] == "int" and group["input_activations"] is None, "int weight-only")
    expect(channel == (weights["group_size"] is None), "channel strategy has no group_size")


# ---- compressed-tensors sparse-24-bitmask ---------------------------------------------------


def unpack_bitmasks(flat, rows, cols):
    """numpy.unpackbits(packed, axis=-1, count=cols, bitorder="little"): element j of a row is
    bit j % 8 (least significant first) of byte j // 8."""
    per_row = len(flat) // rows
    return [[(flat[r * per_row + j // 8] >> (j % 8)) & 1 for j in range(cols)]
            for r in range(rows)]


def sparse24_bitmask_decompress(values, mask, rows, cols):
    """dense[mask] = values.flatten(): boolean indexing fills the marked places row-major."""
    dense = [[0.0] * cols for _ in range(rows)]
    it = iter(values)
    for r in range(rows):
        for c in range(cols):
            if mask[r][c]:
                dense[r][c] = next(it)
    return dense


def same_value(a, b):
    """Bit equality for finite floats: equal, and the same sign (for +-0)."""
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def check_sparse24(t, config, _inputs):
    dtype, (out, inn), flat = t["input.weight"]
    weight = matrix(flat, out, inn)
    expect(t["layer.shape"][0] == "I64" and t["layer.shape"][1] == [2, 1], "shape tensor [2, 1]")
    expect(t["layer.shape"][2] == [out, inn], "shape values")
    cdtype, cshape, values = t["layer.compressed"]
    expect(cdtype == dtype and cshape == [out, inn // 2], "compressed dtype and shape")
    mdtype, mshape, bits = t["layer.bitmask"]
    expect(mdtype == "U8" and mshape == [out, -(-inn // 8)], "bitmask dtype and shape")
    mask = unpack_bitmasks(bits, out, inn)
    for r in range(out):
        for c in range(0, inn, 4):
            marks = mask[r][c : c + 4]
            expect(sum(marks) == 2, "row %d group %d marks %d positions" % (r, c // 4, sum(marks)))
            for p in range(4):
                expect(marks[p] or weight[r][c + p] == 0.0,
                       "non-zero [%d, %d] not marked (not the top 2 of its group)" % (r, c + p))
    dense = sparse24_bitmask_decompress(values, mask, out, inn)
    for r in range(out):
        for c in range(inn):
            # An unkept -0 has no stored value: it comes back as +0, in the reference too.
            want = weight[r][c] if mask[r][c] else 0.0
            expect(same_value(dense[r][c], want), "decompressed weight [%d, %d]" % (r, c))
    expect(config["quant_method"] == "compressed-tensors", "quant_method")
    expect("config_groups" not in config, "no quantization scheme")
    sparsity = config["sparsity_config"]
    expect(sparsity["format"] == "sparse-24-bitmask", "sparsity_config.format")
    expect(sparsity["sparsity_structure"] == "2:4", "sparsity_structure")
    zeros = sum(1 for row in weight for w in row if w == 0.0)
    expect(abs(sparsity["global_sparsity"] - zeros / (out * inn)) < 1e-12, "global_sparsity")
    expect(isinstance(sparsity["targets"], list) and isinstance(sparsity["ignore"], list),
           "targets and ignore are lists")
    note("%d of %d zero" % (zeros, out * inn))


# ---- Shared checks ------------------------------------------------------------------------


class Mismatch(Exception):
    pass


NOTES = []


def expect(ok, what):
    if not ok:
        raise Mismatch(what)


def note(text):
    NOTES.append(text)


def sequential(inn, group_size):
    return [0 if group_size == -1 else i // group_size for i in range(inn)]


def compare_layer(layer, inputs, scale_dtype):
    """Unpacked layer vs the inputs, and scale * (code - zero) vs expected.weight."""
    out, inn, groups = inputs["out"], inputs["in"], inputs["groups"]
    expect(layer["g_idx"] == inputs["g_idx"], "g_idx")
    for o in range(out):
        expect(layer["codes"][o] == inputs["codes"][o], "codes of output row %d" % o)
        for g in range(groups):
            want_zero = inputs["zeros"][o][g]
            expect(layer["zero"](o, g) == want_zero, "zero point [%d, %d]" % (o, g))
            want_scale = round_scale(inputs["scales"][o][g], scale_dtype)
            expect(layer["scale"](o, g) == want_scale, "scale [%d, %d]" % (o, g))
        for i in range(inn):
            g = layer["g_idx"][i]
            # Exact in double and in float32 (a 16-bit scale times a small integer).
            w = f32(layer["scale"](o, g) * (layer["codes"][o][i] - layer["zero"](o, g)))
            expect(w == inputs["weight"][o][i], "dequantized weight [%d, %d]" % (o, i))


def load_inputs(t):
    _, (out, inn), codes = t["input.codes"]
    groups = t["input.scales"][1][1]
    g_idx = [v - (1 << 32) if v >= 1 << 31 else v for v in t["input.g_idx"][2]]
    return dict(out=out, groups=groups, codes=matrix(codes, out, inn),
                scales=matrix(t["input.scales"][2], out, groups),
                zeros=matrix(t["input.zeros"][2], out, groups),
                g_idx=g_idx, weight=matrix(t["expected.weight"][2], out, inn), **{"in": inn})


CHECKS = {"gptq": check_gptq, "awq": check_awq, "compressed-tensors": check_compressed_tensors,
          "sparse-24-bitmask": check_sparse24}


def main(argv):
    if len(argv) != 2:
        print(__doc__)
        return 2
    names = sorted(n for n in os.listdir(argv[1]) if n.endswith(".safetensors")) \
        if os.path.isdir(argv[1]) else []
    if not names:
        print("no samples in %s: run write_format_samples first" % argv[1])
        return 77
    passed = failed = 0
    for name in names:
        tensors, metadata = read_safetensors(os.path.join(argv[1], name))
        del NOTES[:]
        try:
            inputs = None if metadata["format"] == "sparse-24-bitmask" else load_inputs(tensors)
            CHECKS[metadata["format"]](tensors, json.loads(metadata["quantization_config"]),
                                       inputs)
            passed += 1
            print("ok    %s%s" % (name, "".join("  (" + n + ")" for n in NOTES)))
        except (Mismatch, KeyError) as error:
            failed += 1
            print("FAIL  %s: %s" % (name, error))
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
