#!/usr/bin/python3
"""Makes the model zoo under testmodels/zoo/: many architectures, small, seeded random weights, no downloads.

For each model it writes testmodels/zoo/<model>/{model.onnx, input0.npy ..., output0.npy ...}: ONNX (opset 13 to
17, as each model's entry says), inputs "input0", "input1" ... and outputs "output0", "output1" ... with static
shapes, exported from eval mode with BatchNormalization kept as nodes and no constant folding (so the importer
sees the exporter's shape subgraphs as users' files have them); seeded golden inputs and torch's outputs for them.
Every model is made in its own process from torch.manual_seed(SEED) with torch on one thread, so its files do not
depend on which other models are made in the same run. The zoo's part of testmodels/README.md (from its
"## Model zoo" heading on) is written from the exported files.

Usage (Debian's python, which has torch 1.13, torchvision and onnx):
    /usr/bin/python3 testmodels/make_zoo.py                  # the committed (small) models
    /usr/bin/python3 testmodels/make_zoo.py resnet50         # a model made on demand (git-ignored)
    /usr/bin/python3 testmodels/make_zoo.py --all            # everything
"""
import collections
import copy
import math
import os
import subprocess
import sys
from functools import partial

import numpy as np
import onnx
import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torchvision.models import detection, segmentation
from torchvision.models._utils import IntermediateLayerGetter
from torchvision.models.googlenet import BasicConv2d as GoogLeNetConv, Inception
from torchvision.models.inception import BasicConv2d as InceptionConv, InceptionA, InceptionB, InceptionC
from torchvision.models.resnet import BasicBlock, Bottleneck
from torchvision.ops import FeaturePyramidNetwork
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool, LastLevelP6P7

SEED = 20240611
HERE = os.path.dirname(os.path.abspath(__file__))
ZOO = os.path.join(HERE, "zoo")
README = os.path.join(HERE, "README.md")
README_HEADING = "## Model zoo"

NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm)
BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d)
LAYERS = (nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


# ---------------------------------------------------------------------------------------------------------------
# Weights: what makes a comparison against torch's output able to fail
# ---------------------------------------------------------------------------------------------------------------

def randomise_layers(model):
    """Layers initialised far below a variance-preserving scale (detection heads' std 0.01, ViT's zero head) would
    make the outputs nearly constant, hiding errors upstream; they get std 1/sqrt(fan_in). Biases that are all
    equal (zeros, or a focal-loss prior) get random values, so a bias applied twice or not at all shows."""
    with torch.no_grad():
        for module in model.modules():
            if not isinstance(module, LAYERS):
                continue
            weight = module.weight
            fan_in = weight[0].numel() if not isinstance(module, nn.ConvTranspose2d) else weight.shape[0] * weight[0, 0].numel()
            if weight.std().item() * math.sqrt(fan_in) < 0.5:
                weight.normal_(0.0, 1.0 / math.sqrt(fan_in))
            if module.bias is not None and torch.all(module.bias == module.bias.flatten()[0]):
                module.bias.normal_(0.0, 0.1)


def randomise_norm_affine(model):
    """Random norm weight and bias: with the defaults (1 and 0) a folding bug would not show."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, NORMS) and module.weight is not None:
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0.0, 0.1)


def randomise_batchnorm_statistics(model, calibration_inputs):
    """Running statistics measured on a random batch, then jittered (mean + N(0, 0.1) sigma, var x U(0.5, 1.5)).
    Measuring keeps activations in range through the depth, so the outputs depend on the input; the defaults
    (mean 0, var 1) would leave them vanishing or near input-independent, and a folding bug hidden. Each layer is
    measured in forward order on what the eval-mode layers before it (already jittered) give it: measured all at
    once in training mode, the jitter would compound over the depth into activations far from their statistics,
    and the outputs would saturate or cancel until float32 rounding alone moved them by more than the tests allow."""
    batchnorms = [m for m in model.modules() if isinstance(m, BATCHNORMS)]
    if not batchnorms:
        return
    order = []
    hooks = [bn.register_forward_pre_hook(lambda module, args: order.append(module) if module not in order else None)
             for bn in batchnorms]
    model.eval()
    with torch.no_grad():
        model(*calibration_inputs)
    for hook in hooks:
        hook.remove()
    for bn in order + [bn for bn in batchnorms if bn not in order]:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the calibration batch
        bn.train()
        with torch.no_grad():
            model(*calibration_inputs)
            bn.running_mean.add_(torch.randn_like(bn.running_mean) * 0.1 * bn.running_var.sqrt())
            bn.running_var.mul_(torch.empty_like(bn.running_var).uniform_(0.5, 1.5))
        bn.eval()


def scale_layer_outputs(model, layers, make_inputs, std):
    """Scales each layer's weight and bias so that its output has at most the given standard deviation on a random
    input (the largest over the layer's calls, for heads shared by pyramid levels): raw detector outputs feed
    sigmoids and exponentials, which saturate or overflow to the same values for every input when their arguments
    are large."""
    measured = collections.defaultdict(float)

    def measure(module, args, out):
        measured[module] = max(measured[module], out.std().item())

    hooks = [layer.register_forward_hook(measure) for layer in layers]
    with torch.no_grad():
        model(*make_inputs(1))
        for layer in layers:
            layer.weight.mul_(std / measured[layer])
            layer.bias.mul_(std / measured[layer])
    for hook in hooks:
        hook.remove()
    return model


def prepare(model, make_inputs, calibration_batch=8):
    """The zoo's common treatment: variance-preserving layers, random norm affine parameters, BatchNorm statistics
    measured (on make_inputs.calibration's batch where the inputs have one) and jittered, eval mode."""
    randomise_layers(model)
    randomise_norm_affine(model)
    randomise_batchnorm_statistics(model, getattr(make_inputs, "calibration", make_inputs)(calibration_batch))
    model.eval()
    return model


# ---------------------------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------------------------

def images(size):
    """Image-like inputs: low-resolution noise upsampled, plus fine noise. Pure per-pixel noise averages out in
    global pooling, which makes every input give nearly the same logits. The BatchNorm calibration batch
    (make.calibration) also varies in contrast and brightness per image and channel: images alike in those give
    deep layers (1x1 maps above all) statistics so narrow that normalising by them amplifies float32 rounding
    beyond the tests' tolerance."""
    def make(count):
        coarse = F.interpolate(torch.randn(count, 3, 8, 8), size=size, mode="bilinear", align_corners=False)
        return (coarse + 0.1 * torch.randn(count, 3, *size),)

    def calibration(count):
        (x,) = make(count)
        return (x * torch.empty(count, 1, 1, 1).uniform_(0.3, 3.0) + torch.randn(count, 3, 1, 1),)

    make.calibration = calibration
    return make


def square_images(side):
    return images((side, side))


def signals(channels, length):
    """Audio-like inputs: a few random sinusoids plus noise."""
    def make(count):
        t = torch.arange(length, dtype=torch.float32)
        freqs = torch.rand(count, channels, 4, 1) * 0.2
        phases = torch.rand(count, channels, 4, 1) * 6.283
        tones = torch.sin(freqs * t + phases).sum(dim=2)
        return (tones + 0.1 * torch.randn(count, channels, length),)
    return make


def sequences(length, features):
    def make(count):
        return (torch.randn(count, length, features),)
    return make


# ---------------------------------------------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------------------------------------------

class SmallResNet(nn.Module):
    """torchvision's ResNet with configurable stage widths and stem (its own hard-codes 64..512 channels), made of
    torchvision's BasicBlock or Bottleneck; replace_stride_with_dilation as torchvision's."""

    def __init__(self, block, layers, widths, num_classes=10, stem=16, groups=1, width_per_group=64,
                 replace_stride_with_dilation=(False, False, False)):
        super().__init__()
        self.inplanes = stem
        self.dilation = 1
        self.groups = groups
        self.base_width = width_per_group
        self.conv1 = nn.Conv2d(3, stem, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, widths[0], layers[0])
        self.layer2 = self._make_layer(block, widths[1], layers[1], stride=2, dilate=replace_stride_with_dilation[0])
        self.layer3 = self._make_layer(block, widths[2], layers[2], stride=2, dilate=replace_stride_with_dilation[1])
        self.layer4 = self._make_layer(block, widths[3], layers[3], stride=2, dilate=replace_stride_with_dilation[2])
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[3] * block.expansion, num_classes)
        self.out_channels = [w * block.expansion for w in widths]

    def _make_layer(self, block, planes, blocks, stride=1, dilate=False):
        downsample = None
        previous_dilation = self.dilation
        if dilate:
            self.dilation *= stride
            stride = 1
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride=stride, bias=False),
                                       nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample, self.groups, self.base_width, previous_dilation)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes, groups=self.groups, base_width=self.base_width,
                                dilation=self.dilation))
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class Outputs(nn.Module):
    """A model whose forward returns a dict, as a tuple of the named entries (ONNX outputs are positional)."""

    def __init__(self, model, keys):
        super().__init__()
        self.model = model
        self.keys = keys

    def forward(self, *inputs):
        result = self.model(*inputs)
        return tuple(result[k] for k in self.keys) if len(self.keys) > 1 else result[self.keys[0]]


def conv_bn(c_in, c_out, kernel, stride=1, activation=nn.ReLU):
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(c_out),
                         activation())


# ---------------------------------------------------------------------------------------------------------------
# Image classifiers
# ---------------------------------------------------------------------------------------------------------------

def resnet_mini():
    make = square_images(64)
    return prepare(SmallResNet(BasicBlock, [2, 2, 2, 2], [16, 32, 64, 128]), make), make


def resnext_mini():
    make = square_images(64)
    model = SmallResNet(Bottleneck, [1, 2, 2, 1], [16, 32, 64, 96], groups=8, width_per_group=8)
    return prepare(model, make), make


def wide_resnet_mini():
    make = square_images(64)
    model = SmallResNet(Bottleneck, [1, 1, 1, 1], [8, 16, 32, 48], width_per_group=128)
    return prepare(model, make), make


def mobilenet_v2():
    make = square_images(96)
    return prepare(torchvision.models.mobilenet_v2(width_mult=0.5, num_classes=10), make), make


def mobilenet_v3_small():
    make = square_images(96)
    return prepare(torchvision.models.mobilenet_v3_small(width_mult=0.5, num_classes=10), make), make


def mobilenet_v3_large():
    make = square_images(96)
    model = torchvision.models.mobilenet_v3_large(width_mult=0.35, reduced_tail=True, num_classes=10)
    return prepare(model, make), make


def efficientnet_b0():
    make = square_images(64)
    setting, last_channel = torchvision.models.efficientnet._efficientnet_conf("efficientnet_b0", width_mult=0.25,
                                                                                depth_mult=0.5)
    model = torchvision.models.efficientnet.EfficientNet(setting, dropout=0.2, last_channel=last_channel,
                                                         num_classes=10)
    return prepare(model, make), make


def efficientnet_v2():
    """EfficientNetV2's FusedMBConv stages (a full 3x3 expansion, no depthwise) before MBConv ones, as in v2_s."""
    make = square_images(64)
    effnet = torchvision.models.efficientnet
    setting = [effnet.FusedMBConvConfig(1, 3, 1, 16, 16, 1), effnet.FusedMBConvConfig(4, 3, 2, 16, 24, 2),
               effnet.FusedMBConvConfig(4, 3, 2, 24, 32, 1), effnet.MBConvConfig(4, 3, 2, 32, 48, 2),
               effnet.MBConvConfig(6, 3, 2, 48, 64, 1)]
    model = effnet.EfficientNet(setting, dropout=0.2, last_channel=256, num_classes=10,
                                norm_layer=partial(nn.BatchNorm2d, eps=1e-3))
    return prepare(model, make), make


def regnet_x():
    make = square_images(64)
    params = torchvision.models.regnet.BlockParams.from_init_params(depth=6, w_0=16, w_a=12.0, w_m=2.0, group_width=8)
    return prepare(torchvision.models.regnet.RegNet(params, num_classes=10, stem_width=16), make), make


def regnet_y():
    make = square_images(64)
    params = torchvision.models.regnet.BlockParams.from_init_params(depth=6, w_0=16, w_a=12.0, w_m=2.0, group_width=8,
                                                                    se_ratio=0.25)
    return prepare(torchvision.models.regnet.RegNet(params, num_classes=10, stem_width=16), make), make


def mnasnet():
    make = square_images(96)
    return prepare(torchvision.models.MNASNet(alpha=0.35, num_classes=10), make), make


def shufflenet_v2():
    make = square_images(96)
    return prepare(torchvision.models.shufflenet_v2_x0_5(num_classes=10), make), make


def squeezenet1_0():
    make = square_images(96)
    return prepare(torchvision.models.squeezenet1_0(num_classes=10), make), make


def densenet_mini():
    make = square_images(64)
    model = torchvision.models.DenseNet(growth_rate=8, block_config=(2, 3, 4, 3), num_init_features=16, bn_size=2,
                                        num_classes=10)
    return prepare(model, make), make


class GoogLeNetMini(nn.Module):
    """GoogLeNet's layout from torchvision's Inception blocks (1x1, 3x3, "5x5" as 3x3, max-pool branch), smaller."""

    def __init__(self, num_classes=10):
        super().__init__()
        conv = GoogLeNetConv
        self.stem = nn.Sequential(conv(3, 32, kernel_size=7, stride=2, padding=3),
                                  nn.MaxPool2d(3, stride=2, ceil_mode=True), conv(32, 32, kernel_size=1),
                                  conv(32, 64, kernel_size=3, padding=1), nn.MaxPool2d(3, stride=2, ceil_mode=True))
        self.inception3a = Inception(64, 16, 24, 32, 4, 8, 8)
        self.inception3b = Inception(64, 32, 32, 48, 8, 24, 16)
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception4a = Inception(120, 48, 24, 52, 4, 12, 16)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(128, num_classes)

    def forward(self, x):
        x = self.maxpool3(self.inception3b(self.inception3a(self.stem(x))))
        x = self.inception4a(x)
        return self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))


def googlenet_mini():
    make = square_images(96)
    return prepare(GoogLeNetMini(), make), make


class InceptionMini(nn.Module):
    """Inception v3's blocks from torchvision: A (5x5 and double 3x3 branches, average pool), B (stride-2
    reduction concatenated with a max pool), C (factorised 1x7 and 7x1 convolutions)."""

    def __init__(self, num_classes=10):
        super().__init__()
        conv = InceptionConv
        self.stem = nn.Sequential(conv(3, 16, kernel_size=3, stride=2), conv(16, 32, kernel_size=3),
                                  nn.MaxPool2d(3, stride=2))
        self.mixed_a = InceptionA(32, pool_features=16)
        self.reduce_a = conv(240, 48, kernel_size=1)
        self.mixed_b = InceptionB(48)
        self.reduce_b = conv(528, 64, kernel_size=1)
        self.mixed_c = InceptionC(64, channels_7x7=16)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(768, num_classes)

    def forward(self, x):
        x = self.reduce_a(self.mixed_a(self.stem(x)))
        x = self.mixed_c(self.reduce_b(self.mixed_b(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def inception_mini():
    make = square_images(75)
    return prepare(InceptionMini(), make), make


def convnext_mini():
    make = square_images(64)
    config = torchvision.models.convnext.CNBlockConfig
    # layer_scale 1 (torchvision's 1e-6 would make every block nearly the identity); randomised below
    model = torchvision.models.convnext.ConvNeXt([config(16, 32, 1), config(32, 64, 1), config(64, 96, 2),
                                                  config(96, None, 1)], layer_scale=1.0, num_classes=10)
    with torch.no_grad():
        for block in model.modules():
            if isinstance(block, torchvision.models.convnext.CNBlock):
                block.layer_scale.uniform_(0.2, 1.0)
    return prepare(model, make), make


def vit_mini():
    make = square_images(32)
    model = torchvision.models.VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=4, hidden_dim=64,
                                                 mlp_dim=128, num_classes=10)
    with torch.no_grad():
        model.class_token.normal_(0.0, 0.5)  # zeros by default
    return prepare(model, make), make


def swin_mini():
    make = square_images(64)
    model = torchvision.models.SwinTransformer(patch_size=[4, 4], embed_dim=32, depths=[2, 2], num_heads=[2, 4],
                                               window_size=[4, 4], stochastic_depth_prob=0.0, num_classes=10)
    with torch.no_grad():
        for module in model.modules():
            if hasattr(module, "relative_position_bias_table"):
                module.relative_position_bias_table.normal_(0.0, 0.5)  # std 0.02 by default: too small to matter
    return prepare(model, make), make


# ---------------------------------------------------------------------------------------------------------------
# Segmentation
# ---------------------------------------------------------------------------------------------------------------

def fcn_mini():
    make = square_images(64)
    backbone = SmallResNet(Bottleneck, [1, 1, 1, 1], [8, 16, 24, 32], replace_stride_with_dilation=(False, True, True))
    model = segmentation.FCN(IntermediateLayerGetter(backbone, {"layer4": "out"}), segmentation.fcn.FCNHead(128, 10))
    return prepare(Outputs(model, ["out"]), make), make


def deeplabv3_mini():
    make = square_images(64)
    backbone = SmallResNet(Bottleneck, [1, 1, 1, 1], [8, 16, 24, 32],
                           replace_stride_with_dilation=(False, True, True))
    deeplab = segmentation.deeplabv3
    head = nn.Sequential(deeplab.ASPP(128, [2, 4, 6], out_channels=32), nn.Conv2d(32, 32, 3, padding=1, bias=False),
                         nn.BatchNorm2d(32), nn.ReLU(), nn.Conv2d(32, 10, 1))
    model = deeplab.DeepLabV3(IntermediateLayerGetter(backbone, {"layer4": "out"}), head)
    return prepare(Outputs(model, ["out"]), make), make


def lraspp_mini():
    make = square_images(96)
    backbone = torchvision.models.mobilenet_v3_large(width_mult=0.35, dilated=True)
    model = segmentation.lraspp._lraspp_mobilenetv3(backbone, num_classes=10)
    return prepare(Outputs(model, ["out"]), make), make


class UNetMini(nn.Module):
    """U-Net: double 3x3 convolutions, max-pool down, ConvTranspose2d up, encoder features concatenated as skips."""

    def __init__(self, classes=2, widths=(16, 32, 64, 128)):
        super().__init__()

        def double(c_in, c_out):
            return nn.Sequential(conv_bn(c_in, c_out, 3), conv_bn(c_out, c_out, 3))

        self.down = nn.ModuleList([double(3, widths[0])] + [double(a, b) for a, b in zip(widths, widths[1:])])
        self.up = nn.ModuleList([nn.ConvTranspose2d(b, a, 2, stride=2) for a, b in zip(widths, widths[1:])][::-1])
        self.decode = nn.ModuleList([double(2 * a, a) for a in widths[:-1]][::-1])
        self.head = nn.Conv2d(widths[0], classes, 1)

    def forward(self, x):
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        for up, decode, skip in zip(self.up, self.decode, reversed(skips[:-1])):
            x = decode(torch.cat([skip, up(x)], dim=1))
        return self.head(x)


def unet_mini():
    make = square_images(64)
    return prepare(UNetMini(), make), make


# ---------------------------------------------------------------------------------------------------------------
# Quantised
# ---------------------------------------------------------------------------------------------------------------

class QdqConvNet(nn.Module):
    """A quantisation-aware-trained network as exported for int8 deployment: QuantizeLinear/DequantizeLinear pairs
    on the activations (per tensor: int8 input, uint8 after each ReLU) and on the weights (per output channel,
    symmetric int8), float Conv/Gemm between them; torch's fake quantization computes the golden output."""

    def __init__(self, classes=10, widths=(16, 32, 48)):
        super().__init__()
        self.convs = nn.ModuleList([nn.Conv2d(3, widths[0], 3, stride=2, padding=1),
                                    nn.Conv2d(widths[0], widths[1], 3, stride=2, padding=1),
                                    nn.Conv2d(widths[1], widths[1], 3, padding=1, groups=widths[1]),
                                    nn.Conv2d(widths[1], widths[2], 1)])
        self.fc = nn.Linear(widths[2], classes)
        self.activation_scales = None  # None while measuring the activation ranges

    def freeze_scales(self, make_inputs):
        """Activation scales from the ranges on a random batch; weight scales from each output channel's range."""
        ranges = []
        self.record = ranges
        with torch.no_grad():
            self(*make_inputs(8))
        self.activation_scales = [r / 255.0 if unsigned else r / 127.0 for r, unsigned in ranges]
        for i, layer in enumerate(list(self.convs) + [self.fc]):
            scales = layer.weight.detach().abs().flatten(1).amax(dim=1) / 127.0
            self.register_buffer(f"weight_scale{i}", scales)
        del self.record

    def quantise(self, x, index, unsigned):
        if self.activation_scales is None:
            self.record.append((x.abs().max().item(), unsigned))
            return x
        low, high = (0, 255) if unsigned else (-128, 127)
        return torch.fake_quantize_per_tensor_affine(x, self.activation_scales[index], 0, low, high)

    def weight(self, layer, index):
        if self.activation_scales is None:
            return layer.weight
        scales = getattr(self, f"weight_scale{index}")
        return torch.fake_quantize_per_channel_affine(layer.weight, scales, torch.zeros_like(scales, dtype=torch.int32),
                                                      0, -128, 127)

    def forward(self, x):
        x = self.quantise(x, 0, False)
        for i, conv in enumerate(self.convs):
            y = F.conv2d(x, self.weight(conv, i), conv.bias, conv.stride, conv.padding, conv.dilation, conv.groups)
            x = self.quantise(F.relu(y), i + 1, True)
        x = self.quantise(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1), len(self.convs) + 1, True)
        return F.linear(x, self.weight(self.fc, len(self.convs)), self.fc.bias)


def qdq_convnet():
    make = square_images(32)
    model = prepare(QdqConvNet(), make)
    model.freeze_scales(make)
    return model, make


# ---------------------------------------------------------------------------------------------------------------
# Detection: backbones with their heads (raw scores and box deltas; NMS is left to the caller)
# ---------------------------------------------------------------------------------------------------------------

class SsdLiteMini(nn.Module):
    """SSDLite: a MobileNetV3 feature extractor with its extra layers (torchvision's) and SSDLiteHead over six maps."""

    def __init__(self, num_classes=11, anchors=6):
        super().__init__()
        norm = partial(nn.BatchNorm2d, eps=0.001, momentum=0.03)
        backbone = torchvision.models.mobilenet_v3_large(width_mult=0.35, reduced_tail=True, norm_layer=norm).features
        stage_indices = [0] + [i for i, b in enumerate(backbone) if getattr(b, "_is_cn", False)] + [len(backbone) - 1]
        self.extractor = detection.ssdlite.SSDLiteFeatureExtractorMobileNet(backbone, stage_indices[-2], norm,
                                                                            width_mult=0.25)
        with torch.no_grad():
            channels = [f.shape[1] for f in self.extractor.eval()(torch.zeros(1, 3, 128, 128)).values()]
        self.head = detection.ssdlite.SSDLiteHead(channels, [anchors] * len(channels), num_classes, norm)

    def forward(self, x):
        out = self.head(list(self.extractor(x).values()))
        return out["bbox_regression"], out["cls_logits"]


def ssdlite_mini():
    make = square_images(128)
    return prepare(SsdLiteMini(), make), make


class RetinaNetMini(nn.Module):
    """RetinaNet: ResNet C3-C5, a feature pyramid with P6/P7, and torchvision's RetinaNetHead (four 3x3 convolutions
    per branch, shared over levels), outputs concatenated over levels."""

    def __init__(self, num_classes=10, anchors=9, width=32):
        super().__init__()
        backbone = SmallResNet(BasicBlock, [1, 1, 1, 1], [16, 32, 64, 128])
        self.body = IntermediateLayerGetter(backbone, {"layer2": "c3", "layer3": "c4", "layer4": "c5"})
        self.fpn = FeaturePyramidNetwork([32, 64, 128], width, extra_blocks=LastLevelP6P7(width, width))
        self.head = detection.retinanet.RetinaNetHead(width, anchors, num_classes)

    def forward(self, x):
        features = list(self.fpn(self.body(x)).values())
        return self.head.regression_head(features), self.head.classification_head(features)


def retinanet_mini():
    make = square_images(128)
    return prepare(RetinaNetMini(), make), make


class FasterRcnnRpnMini(nn.Module):
    """Faster R-CNN's first stage: ResNet C2-C5, a feature pyramid with the extra max-pooled level, RPNHead, the
    per-level predictions flattened as torchvision does, and box deltas decoded against fixed anchors."""

    def __init__(self, size=128, width=32):
        super().__init__()
        backbone = SmallResNet(BasicBlock, [1, 1, 1, 1], [16, 32, 64, 128])
        self.body = IntermediateLayerGetter(backbone, {"layer1": "c2", "layer2": "c3", "layer3": "c4", "layer4": "c5"})
        self.fpn = FeaturePyramidNetwork([16, 32, 64, 128], width, extra_blocks=LastLevelMaxPool())
        self.head = detection.rpn.RPNHead(width, 3)
        generator = detection.anchor_utils.AnchorGenerator(sizes=((16,), (32,), (48,), (64,), (96,)),
                                                           aspect_ratios=((0.5, 1.0, 2.0),) * 5)
        with torch.no_grad():
            image = torch.zeros(1, 3, size, size)
            features = list(self.fpn(self.body.eval()(image)).values())
            anchors = generator(detection.image_list.ImageList(image, [(size, size)]), features)[0]
        self.register_buffer("anchors", anchors)
        self.box_coder = detection._utils.BoxCoder(weights=(1.0, 1.0, 1.0, 1.0))

    def forward(self, x):
        features = list(self.fpn(self.body(x)).values())
        objectness, deltas = self.head(features)
        objectness, deltas = detection.rpn.concat_box_prediction_layers(objectness, deltas)
        batch = x.shape[0]
        boxes = self.box_coder.decode(deltas, [self.anchors] * batch)
        return torch.sigmoid(objectness).view(batch, -1), boxes.view(batch, -1, 4)


def fasterrcnn_rpn_mini():
    make = square_images(128)
    model = prepare(FasterRcnnRpnMini(), make)
    scale_layer_outputs(model, [model.head.cls_logits], make, 1.5)
    return scale_layer_outputs(model, [model.head.bbox_pred], make, 0.5), make


class YoloConv(nn.Sequential):
    def __init__(self, c_in, c_out, kernel=1, stride=1, padding=None):
        super().__init__(nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2 if padding is None else padding, bias=False),
                         nn.BatchNorm2d(c_out, eps=1e-3, momentum=0.03), nn.SiLU())


class C3(nn.Module):
    """YOLOv5's CSP block: two 1x1 branches, one through residual bottlenecks, concatenated and fused."""

    def __init__(self, c_in, c_out, blocks=1, shortcut=True):
        super().__init__()
        hidden = c_out // 2
        self.cv1, self.cv2, self.cv3 = YoloConv(c_in, hidden), YoloConv(c_in, hidden), YoloConv(2 * hidden, c_out)
        self.m = nn.ModuleList([nn.Sequential(YoloConv(hidden, hidden), YoloConv(hidden, hidden, 3))
                                for _ in range(blocks)])
        self.shortcut = shortcut

    def forward(self, x):
        y = self.cv1(x)
        for block in self.m:
            y = y + block(y) if self.shortcut else block(y)
        return self.cv3(torch.cat([y, self.cv2(x)], dim=1))


class Sppf(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        self.cv1, self.cv2 = YoloConv(c_in, c_in // 2), YoloConv(c_in * 2, c_out)
        self.pool = nn.MaxPool2d(5, stride=1, padding=2)

    def forward(self, x):
        x = self.cv1(x)
        y1 = self.pool(x)
        y2 = self.pool(y1)
        return self.cv2(torch.cat([x, y1, y2, self.pool(y2)], dim=1))


class YoloMini(nn.Module):
    """YOLOv5's layout, small: CSP backbone with SPPF, a PANet neck (nearest upsampling, concatenations) and the
    Detect head decoding boxes on grids made in the graph (arange, meshgrid) with per-level anchors."""

    def __init__(self, classes=4, widths=(16, 32, 64, 128)):
        super().__init__()
        w0, w1, w2, w3 = widths
        self.stem = YoloConv(3, w0, 6, 2, 2)
        self.stage2 = nn.Sequential(YoloConv(w0, w1, 3, 2), C3(w1, w1))
        self.stage3 = nn.Sequential(YoloConv(w1, w2, 3, 2), C3(w2, w2, 2))
        self.stage4 = nn.Sequential(YoloConv(w2, w3, 3, 2), C3(w3, w3))
        self.stage5 = nn.Sequential(YoloConv(w3, w3, 3, 2), C3(w3, w3), Sppf(w3, w3))
        self.lateral5, self.top4 = YoloConv(w3, w2), C3(w3 + w2, w2, shortcut=False)
        self.lateral4, self.top3 = YoloConv(w2, w1), C3(w2 + w1, w1 * 2, shortcut=False)
        self.down3, self.bottom4 = YoloConv(w1 * 2, w1 * 2, 3, 2), C3(w1 * 2 + w1, w2, shortcut=False)
        self.down4, self.bottom5 = YoloConv(w2, w2, 3, 2), C3(w2 + w2, w3, shortcut=False)
        self.outputs = 5 + classes
        self.register_buffer("anchors", torch.tensor([[10, 13, 16, 30, 33, 23], [30, 61, 62, 45, 59, 119],
                                                      [116, 90, 156, 198, 373, 326]], dtype=torch.float32).view(3, 3, 2))
        self.strides = (8, 16, 32)
        self.detect = nn.ModuleList([nn.Conv2d(c, 3 * self.outputs, 1) for c in (w1 * 2, w2, w3)])

    def forward(self, x):
        c3 = self.stage3(self.stage2(self.stem(x)))
        c4 = self.stage4(c3)
        c5 = self.stage5(c4)
        l5 = self.lateral5(c5)
        t4 = self.top4(torch.cat([F.interpolate(l5, scale_factor=2.0, mode="nearest"), c4], dim=1))
        l4 = self.lateral4(t4)
        p3 = self.top3(torch.cat([F.interpolate(l4, scale_factor=2.0, mode="nearest"), c3], dim=1))
        p4 = self.bottom4(torch.cat([self.down3(p3), l4], dim=1))
        p5 = self.bottom5(torch.cat([self.down4(p4), l5], dim=1))
        decoded = []
        for level, feature in enumerate((p3, p4, p5)):
            y = self.detect[level](feature)
            batch, _, ny, nx = y.shape
            y = y.view(batch, 3, self.outputs, ny, nx).permute(0, 1, 3, 4, 2).sigmoid()
            gy, gx = torch.meshgrid(torch.arange(ny, dtype=torch.float32), torch.arange(nx, dtype=torch.float32),
                                    indexing="ij")
            grid = torch.stack((gx, gy), 2).view(1, 1, ny, nx, 2) - 0.5
            anchor_grid = self.anchors[level].view(1, 3, 1, 1, 2)
            xy = (y[..., 0:2] * 2 + grid) * self.strides[level]
            wh = (y[..., 2:4] * 2) ** 2 * anchor_grid
            decoded.append(torch.cat((xy, wh, y[..., 4:]), -1).view(batch, -1, self.outputs))
        return torch.cat(decoded, 1)


def yolo_mini():
    make = square_images(128)
    model = prepare(YoloMini(), make)
    return scale_layer_outputs(model, list(model.detect), make, 1.5), make


class DetectPostprocess(nn.Module):
    """A detector's post-processing: boxes from centre/size to corners, score = objectness x best class, the
    candidates over a threshold (a data-dependent count: NonZero) and the top-k scores (TopK)."""

    def __init__(self, threshold=0.3, k=16):
        super().__init__()
        self.threshold = threshold
        self.k = k

    def forward(self, predictions):
        p = predictions[0]
        corners = torch.cat((p[:, 0:2] - p[:, 2:4] / 2, p[:, 0:2] + p[:, 2:4] / 2), dim=1)
        best, classes = p[:, 5:].max(dim=1)
        scores = p[:, 4] * best
        keep = torch.nonzero(scores > self.threshold).squeeze(1)
        top_scores, top_index = torch.topk(scores, self.k)
        return corners[keep], scores[keep], classes[keep], top_scores, top_index


def detect_postprocess():
    def make(count):
        centres = torch.rand(count, 200, 2) * 128
        sizes = torch.rand(count, 200, 2) * 40 + 4
        return (torch.cat((centres, sizes, torch.rand(count, 200, 5)), dim=2),)
    return DetectPostprocess().eval(), make


# ---------------------------------------------------------------------------------------------------------------
# Sequences, language, audio, tabular
# ---------------------------------------------------------------------------------------------------------------

class LstmClassifier(nn.Module):
    def __init__(self, features=16, hidden=32, classes=5):
        super().__init__()
        self.lstm = nn.LSTM(features, hidden, num_layers=2, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(2 * hidden, classes)

    def forward(self, x):
        y, _ = self.lstm(x)
        return self.fc(y[:, -1])


def lstm_classifier():
    make = sequences(24, 16)
    return prepare(LstmClassifier(), make), make


class GruTagger(nn.Module):
    """Per-step tags from a GRU given its initial state as a second input; the final state is a second output."""

    def __init__(self, features=12, hidden=24, tags=6):
        super().__init__()
        self.gru = nn.GRU(features, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, tags)

    def forward(self, x, h0):
        y, h = self.gru(x, h0)
        return self.fc(y), h


def gru_tagger():
    def make(count):
        return torch.randn(count, 20, 12), torch.randn(1, count, 24) * 0.5
    return prepare(GruTagger(), make), make


VOCAB = 96


def tokens(length, padded=0):
    """int64 token ids in [1, VOCAB); the last `padded` positions are the padding id 0."""
    def make(count):
        ids = torch.randint(1, VOCAB, (count, length), dtype=torch.int64)
        if padded:
            ids[:, length - padded:] = 0
        return (ids,)
    return make


class TokenEncoder(nn.Module):
    """A BERT-style classifier: token and learned position embeddings, nn.TransformerEncoder (pre-norm, gelu) with
    a key padding mask from the padding id, mean over the positions, a linear head."""

    def __init__(self, length=16, d_model=64, classes=3):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, d_model, padding_idx=0)
        self.position = nn.Parameter(torch.randn(1, length, d_model) * 0.5)
        layer = nn.TransformerEncoderLayer(d_model, 4, dim_feedforward=128, activation="gelu", batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, classes)
        with torch.no_grad():  # the layers are deep copies of one: give each its own weights
            for name, p in self.encoder.named_parameters():
                if p.dim() > 1:
                    nn.init.xavier_uniform_(p)
                elif "norm" not in name:
                    p.normal_(0.0, 0.1)

    def forward(self, ids):
        padding = ids == 0
        x = self.encoder(self.embed(ids) + self.position, src_key_padding_mask=padding)
        return self.head(self.norm(x).mean(dim=1))


def token_encoder():
    make = tokens(16, padded=4)
    return prepare(TokenEncoder(), make), make


class CausalSelfAttention(nn.Module):
    def __init__(self, d_model, heads):
        super().__init__()
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.heads = heads
        self.scale = 1.0 / math.sqrt(d_model // heads)

    def forward(self, x):
        batch, length, d_model = x.shape
        q, k, v = self.qkv(x).split(d_model, dim=2)
        q, k, v = (t.view(batch, length, self.heads, d_model // self.heads).transpose(1, 2) for t in (q, k, v))
        scores = q @ k.transpose(-2, -1) * self.scale
        future = torch.triu(torch.ones(length, length, dtype=torch.bool), diagonal=1)
        weights = torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1)
        y = (weights @ v).transpose(1, 2).contiguous().view(batch, length, d_model)
        return self.proj(y)


class GptBlock(nn.Module):
    def __init__(self, d_model, heads):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.attn = CausalSelfAttention(d_model, heads)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(approximate="tanh"),
                                 nn.Linear(4 * d_model, d_model))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class GptMini(nn.Module):
    """A GPT-2-style causal decoder: token and position embeddings, pre-norm blocks with a causal mask made in the
    graph (Trilu), tanh-GELU MLPs, a language-model head tied to the token embedding; outputs the logits and the
    greedy next token (int64)."""

    def __init__(self, length=16, d_model=64, heads=4, layers=2):
        super().__init__()
        self.wte = nn.Embedding(VOCAB, d_model)
        self.wpe = nn.Embedding(length, d_model)
        self.blocks = nn.ModuleList([GptBlock(d_model, heads) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(d_model)
        self.lm_head = nn.Linear(d_model, VOCAB, bias=False)
        self.lm_head.weight = self.wte.weight
        with torch.no_grad():
            self.wte.weight.normal_(0.0, 0.5)
            self.wpe.weight.normal_(0.0, 0.5)

    def forward(self, ids):
        positions = torch.arange(ids.shape[1], dtype=torch.int64).unsqueeze(0)
        x = self.wte(ids) + self.wpe(positions)
        for block in self.blocks:
            x = block(x)
        logits = self.lm_head(self.ln_f(x))
        return logits, logits[:, -1].argmax(dim=-1)


def gpt_mini():
    make = tokens(16)
    return prepare(GptMini(), make), make


class AudioM5(nn.Module):
    """M5 (Dai et al.): a wide strided first 1-D convolution over the raw waveform, BatchNorm1d, max pooling,
    global average pooling and log-softmax."""

    def __init__(self, classes=10, width=32):
        super().__init__()

        def stage(c_in, c_out, kernel, stride=1):
            return [nn.Conv1d(c_in, c_out, kernel, stride), nn.BatchNorm1d(c_out), nn.ReLU(), nn.MaxPool1d(4)]

        self.features = nn.Sequential(*stage(1, width, 80, 4), *stage(width, width, 3), *stage(width, 2 * width, 3),
                                      *stage(2 * width, 2 * width, 3))
        self.fc = nn.Linear(2 * width, classes)

    def forward(self, x):
        x = F.adaptive_avg_pool1d(self.features(x), 1).squeeze(-1)
        return F.log_softmax(self.fc(x), dim=-1)


def audio_m5():
    make = signals(1, 8000)
    return prepare(AudioM5(), make), make


class WaveNetMini(nn.Module):
    """WaveNet-style stack: causal dilated 1-D convolutions (left padding), gated tanh x sigmoid units, residual and
    skip 1x1 convolutions; per-step class scores."""

    def __init__(self, channels=16, skip=32, classes=8, dilations=(1, 2, 4, 8, 16, 1, 2, 4)):
        super().__init__()
        self.input = nn.Conv1d(1, channels, 1)
        self.dilations = dilations
        self.filters = nn.ModuleList([nn.Conv1d(channels, channels, 2, dilation=d) for d in dilations])
        self.gates = nn.ModuleList([nn.Conv1d(channels, channels, 2, dilation=d) for d in dilations])
        self.residual = nn.ModuleList([nn.Conv1d(channels, channels, 1) for _ in dilations])
        self.skip = nn.ModuleList([nn.Conv1d(channels, skip, 1) for _ in dilations])
        self.out = nn.Sequential(nn.ReLU(), nn.Conv1d(skip, skip, 1), nn.ReLU(), nn.Conv1d(skip, classes, 1))

    def forward(self, x):
        x = self.input(x)
        skips = 0
        for d, f, g, r, s in zip(self.dilations, self.filters, self.gates, self.residual, self.skip):
            padded = F.pad(x, (d, 0))
            z = torch.tanh(f(padded)) * torch.sigmoid(g(padded))
            skips = skips + s(z)
            x = x + r(z)
        return self.out(skips)


def wavenet_mini():
    make = signals(1, 2000)
    return prepare(WaveNetMini(), make), make


class DsCnnKws(nn.Module):
    """Keyword spotting on MFCC features (DS-CNN, Zhang et al.): a non-square strided first convolution, then
    depthwise-separable blocks, average pooling, a linear head."""

    def __init__(self, classes=12, width=64):
        super().__init__()
        layers = [nn.Conv2d(1, width, (10, 4), stride=(2, 2), padding=(5, 1), bias=False), nn.BatchNorm2d(width),
                  nn.ReLU()]
        for _ in range(3):
            layers += [nn.Conv2d(width, width, 3, padding=1, groups=width, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
                       nn.Conv2d(width, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(width, classes)

    def forward(self, x):
        return self.fc(torch.flatten(F.avg_pool2d(self.features(x), (25, 5)), 1))


def dscnn_kws():
    def make(count):
        return (torch.randn(count, 1, 49, 10),)
    return prepare(DsCnnKws(), make), make


class TabularMlp(nn.Module):
    """A tabular classifier over a batch of rows: Linear, BatchNorm1d, ReLU, Dropout; class probabilities and the
    predicted class (int64)."""

    def __init__(self, features=20, hidden=64, classes=3):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(features, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Dropout(0.1),
                                 nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Dropout(0.1),
                                 nn.Linear(hidden, classes))

    def forward(self, x):
        probabilities = torch.softmax(self.net(x), dim=1)
        return probabilities, probabilities.argmax(dim=1)


def tabular_mlp():
    def make(count):
        return (torch.randn(max(count, 8), 20),)
    return prepare(TabularMlp(), make), make


class WideAndDeep(nn.Module):
    """Wide & Deep over categorical (int64 ids, one embedding per column) and continuous columns: the deep part an
    MLP over the concatenated embeddings and LayerNorm-ed continuous values, the wide part linear; a probability."""

    def __init__(self, vocabularies=(10, 7, 5), continuous=6, embedding=4, hidden=32):
        super().__init__()
        self.embeddings = nn.ModuleList([nn.Embedding(v, embedding) for v in vocabularies])
        self.norm = nn.LayerNorm(continuous)
        deep_in = embedding * len(vocabularies) + continuous
        self.deep = nn.Sequential(nn.Linear(deep_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                  nn.Linear(hidden, 1))
        self.wide = nn.Linear(continuous, 1)

    def forward(self, categorical, continuous):
        embedded = [e(categorical[:, i]) for i, e in enumerate(self.embeddings)]
        deep = self.deep(torch.cat(embedded + [self.norm(continuous)], dim=1))
        return torch.sigmoid(deep + self.wide(continuous))


def wide_and_deep():
    def make(count):
        count = max(count, 8)
        columns = [torch.randint(0, v, (count, 1), dtype=torch.int64) for v in (10, 7, 5)]
        return torch.cat(columns, dim=1), torch.randn(count, 6) * 2 + 1
    return prepare(WideAndDeep(), make), make


# ---------------------------------------------------------------------------------------------------------------
# Full-size torchvision models (made on demand, git-ignored)
# ---------------------------------------------------------------------------------------------------------------

def torchvision_model(name):
    def build():
        make = square_images(224)
        return prepare(getattr(torchvision.models, name)(weights=None), make), make
    return build


Model = collections.namedtuple("Model", "build opset committed what")

MODELS = {
    "resnet_mini": Model(resnet_mini, 13, True, "ResNet-18 layout (BasicBlock x [2,2,2,2]), widths 16-128"),
    "resnext_mini": Model(resnext_mini, 14, True, "ResNeXt: Bottleneck, 8 groups x width 8, widths 16-96"),
    "wide_resnet_mini": Model(wide_resnet_mini, 15, True, "Wide ResNet: Bottleneck with width_per_group 128"),
    "mobilenet_v2": Model(mobilenet_v2, 13, True, "torchvision mobilenet_v2, width 0.5"),
    "mobilenet_v3_small": Model(mobilenet_v3_small, 14, True, "torchvision mobilenet_v3_small, width 0.5 (SE, hardswish)"),
    "mobilenet_v3_large": Model(mobilenet_v3_large, 17, True, "torchvision mobilenet_v3_large, width 0.35, reduced tail"),
    "efficientnet_b0": Model(efficientnet_b0, 13, True, "torchvision EfficientNet-B0 layout, width 0.25, depth 0.5 (SiLU, SE)"),
    "efficientnet_v2": Model(efficientnet_v2, 15, True, "torchvision EfficientNetV2 blocks: FusedMBConv then MBConv"),
    "regnet_x": Model(regnet_x, 13, True, "torchvision RegNetX, depth 6, group width 8"),
    "regnet_y": Model(regnet_y, 16, True, "torchvision RegNetY (squeeze-excite), depth 6, group width 8"),
    "mnasnet": Model(mnasnet, 13, True, "torchvision MNASNet, alpha 0.35"),
    "shufflenet_v2": Model(shufflenet_v2, 13, True, "torchvision shufflenet_v2_x0_5 (channel split and shuffle)"),
    "squeezenet1_0": Model(squeezenet1_0, 13, True, "torchvision squeezenet1_0 (ceil-mode pooling, fire modules)"),
    "densenet_mini": Model(densenet_mini, 14, True, "torchvision DenseNet, growth 8, blocks (2,3,4,3)"),
    "googlenet_mini": Model(googlenet_mini, 13, True, "GoogLeNet layout from torchvision's Inception blocks"),
    "inception_mini": Model(inception_mini, 15, True, "Inception v3 blocks A, B, C from torchvision (1x7/7x1)"),
    "convnext_mini": Model(convnext_mini, 17, True, "torchvision ConvNeXt, widths 16-96 (7x7 depthwise, LayerNorm2d, GELU)"),
    "vit_mini": Model(vit_mini, 14, True, "torchvision VisionTransformer, patch 8, 2 layers, 4 heads, d 64"),
    "swin_mini": Model(swin_mini, 17, True, "torchvision SwinTransformer, d 32, depths [2,2], window 4 (shifted windows)"),
    "fcn_mini": Model(fcn_mini, 13, True, "torchvision FCN head on a dilated ResNet (output stride 8), bilinear upsampling"),
    "deeplabv3_mini": Model(deeplabv3_mini, 16, True, "torchvision DeepLabV3: dilated ResNet, ASPP (rates 2,4,6, image pooling)"),
    "lraspp_mini": Model(lraspp_mini, 14, True, "torchvision LRASPP on a dilated mobilenet_v3_large, width 0.35"),
    "unet_mini": Model(unet_mini, 13, True, "U-Net: ConvTranspose2d upsampling, concatenated skips, 2 classes"),
    "qdq_convnet": Model(qdq_convnet, 13, True,
                         "int8 QDQ network: per-tensor activations, per-channel weights, float Conv/Gemm between"),
    "ssdlite_mini": Model(ssdlite_mini, 13, True, "SSDLite: torchvision's MobileNetV3 extractor and SSDLiteHead (boxes, logits)"),
    "retinanet_mini": Model(retinanet_mini, 14, True, "RetinaNet: ResNet + FPN (P3-P7) + torchvision's RetinaNetHead"),
    "fasterrcnn_rpn_mini": Model(fasterrcnn_rpn_mini, 13, True,
                                 "Faster R-CNN's RPN: ResNet + FPN + RPNHead, boxes decoded against anchors"),
    "yolo_mini": Model(yolo_mini, 13, True, "YOLOv5 layout: CSP backbone, SPPF, PANet neck, Detect decoding"),
    "detect_postprocess": Model(detect_postprocess, 13, True,
                                "detector post-processing: threshold (NonZero, run-time shapes), TopK"),
    "lstm_classifier": Model(lstm_classifier, 13, True, "2-layer bidirectional LSTM, last step to a linear head"),
    "gru_tagger": Model(gru_tagger, 14, True, "GRU with its initial state as an input, per-step tags and final state"),
    "token_encoder": Model(token_encoder, 14, True,
                           "BERT-style: embeddings, 2 pre-norm TransformerEncoder layers, key padding mask"),
    "gpt_mini": Model(gpt_mini, 17, True, "GPT-2-style causal decoder, 2 blocks, tied LM head, greedy next token"),
    "audio_m5": Model(audio_m5, 13, True, "M5 raw-waveform classifier: Conv1d, BatchNorm1d, MaxPool1d"),
    "wavenet_mini": Model(wavenet_mini, 15, True, "WaveNet-style dilated causal Conv1d, gated units, skips"),
    "dscnn_kws": Model(dscnn_kws, 13, True, "DS-CNN keyword spotting on MFCCs: 10x4 conv, depthwise-separable"),
    "tabular_mlp": Model(tabular_mlp, 13, True, "MLP with BatchNorm1d over 8 rows: probabilities and class"),
    "wide_and_deep": Model(wide_and_deep, 14, True, "Wide & Deep: int64 categorical embeddings + continuous"),
    "resnet50": Model(torchvision_model("resnet50"), 13, False, "torchvision resnet50"),
    "efficientnet_b0_full": Model(torchvision_model("efficientnet_b0"), 13, False, "torchvision efficientnet_b0"),
    "convnext_tiny": Model(torchvision_model("convnext_tiny"), 17, False, "torchvision convnext_tiny"),
}


# ---------------------------------------------------------------------------------------------------------------
# Making, checking, documenting
# ---------------------------------------------------------------------------------------------------------------

def as_tuple(outputs):
    return tuple(outputs) if isinstance(outputs, (tuple, list)) else (outputs,)


def check_conditioning(name, model, inputs, outputs):
    """float32 rounding alone must move every floating-point output by well under the tests' tolerance (1e-4 of
    max|output|): torch's own float32 result is compared with the model run in float64."""
    try:
        model64 = copy.deepcopy(model).double()
        outputs64 = as_tuple(model64(*[x.double() if x.is_floating_point() else x for x in inputs]))
    except RuntimeError as e:  # fake quantisation runs in float32 only
        print(f"  float64 run not possible ({str(e).splitlines()[0]}): conditioning not checked")
        return
    for i, (y, y64) in enumerate(zip(outputs, outputs64)):
        if not y.is_floating_point() or y.shape != y64.shape:
            continue
        error = ((y.double() - y64).abs().max() / y64.abs().max()).item()
        print(f"  output{i}: float32 vs float64 {error:.1e}")
        if not error < 2e-5:
            raise SystemExit(f"{name}: output{i} moves by {error:.1e} of its maximum from float32 rounding alone")


def check_not_degenerate(name, model, make_inputs, outputs):
    """Comparisons against these outputs only mean something if the floating-point outputs vary and depend on the
    input."""
    with torch.no_grad():
        others = as_tuple(model(*make_inputs(1)))
    for i, (output, other) in enumerate(zip(outputs, others)):
        if not output.is_floating_point():
            print(f"  output{i}: {output.dtype} {list(output.shape)}")
            continue
        values = output.flatten()
        if not torch.isfinite(values).all():
            raise SystemExit(f"{name}: output{i} has non-finite values")
        distinct = torch.unique(values).numel() / max(1, values.numel())
        zeros = (values == 0).float().mean().item()
        dependence = ((other - output).std() / output.std()).item() if other.shape == output.shape else float("nan")
        print(f"  output{i}: {list(output.shape)}, std {values.std().item():.4f}, max|.| {values.abs().max().item():.4f},"
              f" distinct {distinct:.1%}, zeros {zeros:.1%}, std(other input - golden)/std {dependence:.3f}")
        # a shape that changes with the input (detect_postprocess) is input dependence enough
        if distinct < 0.5 or zeros > 0.5 or dependence < 0.03:
            raise SystemExit(f"{name}: output{i} is degenerate")


def make(name):
    spec = MODELS[name]
    torch.manual_seed(SEED)
    model, make_inputs = spec.build()
    # The golden input is drawn after the weights, from its own fixed seed.
    torch.manual_seed(SEED + 1)
    inputs = make_inputs(1)
    # Grad stays enabled: in eval mode under no_grad, nn.MultiheadAttention and TransformerEncoder take fused fast
    # paths that the ONNX exporter does not see; with grad, golden output and export are one code path.
    outputs = tuple(o.detach() for o in as_tuple(model(*inputs)))
    check_not_degenerate(name, model, make_inputs, outputs)
    check_conditioning(name, model, inputs, outputs)

    out_dir = os.path.join(ZOO, name)
    os.makedirs(out_dir, exist_ok=True)
    for file in os.listdir(out_dir):
        os.remove(os.path.join(out_dir, file))
    for i, x in enumerate(inputs):
        np.save(os.path.join(out_dir, f"input{i}.npy"), x.numpy())
    for i, y in enumerate(outputs):
        np.save(os.path.join(out_dir, f"output{i}.npy"), y.numpy())
    # PRESERVE (with the model in eval mode) keeps BatchNormalization nodes instead of folding them into Conv.
    torch.onnx.export(model, inputs, os.path.join(out_dir, "model.onnx"), opset_version=spec.opset,
                      input_names=[f"input{i}" for i in range(len(inputs))],
                      output_names=[f"output{i}" for i in range(len(outputs))], do_constant_folding=False,
                      training=torch.onnx.TrainingMode.PRESERVE)
    onnx.checker.check_model(os.path.join(out_dir, "model.onnx"))
    for file in sorted(os.listdir(out_dir)):
        print(f"  {file}: {os.path.getsize(os.path.join(out_dir, file)) / 1e6:.3f} MB")


def describe(name):
    """A README table row from the files, or None when the model has not been made."""
    spec = MODELS[name]
    out_dir = os.path.join(ZOO, name)
    path = os.path.join(out_dir, "model.onnx")
    if not os.path.exists(path):
        return None
    model = onnx.load(path)
    elem = {1: "f32", 7: "i64", 9: "bool"}

    def signature(values):
        return ", ".join(f"{elem.get(v.type.tensor_type.elem_type, v.type.tensor_type.elem_type)}"
                         f"[{','.join(str(d.dim_value) if d.HasField('dim_value') else d.dim_param for d in v.type.tensor_type.shape.dim)}]"
                         for v in values)

    ops = collections.Counter(n.op_type for n in model.graph.node)
    op_text = ", ".join(f"{op} {count}" for op, count in sorted(ops.items()))
    status = "committed" if spec.committed else f"on demand (git-ignored): `make_zoo.py {name}`"
    size = os.path.getsize(path) / 1e6
    return (f"| `{name}` | {spec.what} | {spec.opset} | {signature(model.graph.input)} | "
            f"{signature(model.graph.output)} | {size:.2f} MB | {status} | {op_text} |")


def write_readme():
    rows = [row for row in (describe(name) for name in MODELS) if row]
    committed_bytes = sum(os.path.getsize(os.path.join(ZOO, name, f)) for name, spec in MODELS.items()
                          if spec.committed and os.path.isdir(os.path.join(ZOO, name))
                          for f in os.listdir(os.path.join(ZOO, name)))
    on_demand = ", ".join(f"`{name}`" for name, spec in MODELS.items() if not spec.committed)
    text = f"""{README_HEADING}

`zoo/` holds {sum(1 for s in MODELS.values() if s.committed)} small models of many architectures, made by
`make_zoo.py` (torch 1.13, torchvision 0.14) with seeded random weights; the committed files take
{committed_bytes / 1e6:.1f} MB in all. Each `zoo/<model>/` folder holds `model.onnx` (static shapes, inputs `input0`,
`input1` ..., outputs `output0`, `output1` ..., exported from eval mode with BatchNormalization kept as nodes and
no constant folding, so the exporter's shape subgraphs are there as in users' files), the golden inputs
`input<i>.npy` and torch's outputs `output<i>.npy`.

Every Conv/Linear initialised far below a variance-preserving scale (detection heads, ViT's zero head) is
redrawn, biases that are all equal get random values, norm layers get random affine parameters, and BatchNorm
statistics are measured layer by layer (in eval mode, on a calibration batch of varied contrast) and jittered,
so that folding and fusion bugs show. The script checks that each floating-point output is finite, varied and
depends on the input, and that float32 rounding alone moves it by less than 2e-5 of its maximum (torch in float32
against the same model in float64), so that the tests' tolerance of 1e-4 measures Kiln and not the model's
conditioning. Models made on demand (git-ignored, full size): {on_demand}.

| model | what | opset | inputs | outputs | model.onnx | status | ONNX ops (count) |
|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

    /usr/bin/python3 testmodels/make_zoo.py                 # the committed models
    /usr/bin/python3 testmodels/make_zoo.py resnet50        # a model made on demand
    /usr/bin/python3 testmodels/make_zoo.py --all           # everything

Every model starts from the same fixed seed, is made in its own process and torch runs single-threaded, so
the files come out the same on every run. `ZooModelsTest` in the server module runs the zoo through the
importer, the interpreter and the C backend (see the Tests section of the top-level README).
"""
    with open(README) as readme:
        head = readme.read().split(README_HEADING)[0].rstrip("\n")
    with open(README, "w") as readme:
        readme.write(head + "\n\n" + text)


def main(args):
    torch.set_num_threads(1)
    if len(args) == 2 and args[0] == "--one":
        make(args[1])
        return
    if args == ["--all"]:
        names = list(MODELS)
    elif args:
        names = args
    else:
        names = [name for name, spec in MODELS.items() if spec.committed]
    unknown = [name for name in names if name not in MODELS]
    if unknown:
        raise SystemExit(f"unknown model(s) {unknown}; known: {list(MODELS)}")
    for name in names:
        print(name, flush=True)
        subprocess.run([sys.executable, os.path.basename(__file__), "--one", name], cwd=HERE, check=True)
    write_readme()


if __name__ == "__main__":
    main(sys.argv[1:])
