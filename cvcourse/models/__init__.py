"""Classification architectures (chapters 03-05 and the evolution timeline) and the blocks the
detection chapters reuse.

- `classic`: `LeNet5`, `AlexNetSmall`, `VGGSmall` (32x32 inputs) and `evolution_table`.
- `inception`: `InceptionNaive`, `Inception`, `GoogLeNet` with its auxiliary heads, `googlenet_loss`.
- `resnet`: `BasicBlock`, `Bottleneck`, `ResNet`, `PlainNet`; ImageNet, CIFAR and SE variants.
- `se`: `SEBlock` (Squeeze-and-Excitation).
- `blocks`: `ConvBlock` (conv + BN + activation), `Mish`, `SPP`.

Every model maps Tensor[N, C, H, W] images to Tensor[N, num_classes] logits (GoogLeNet in training
mode with aux heads: `GoogLeNetOutputs`). Convolutions are Kaiming-initialised; nothing is
downloaded. `cvcourse.sizes.summary(model, input_shape)` lists a model's layers, parameters and MACs.
"""

from .blocks import ACTIVATIONS, SPP, ConvBlock, Mish
from .classic import AlexNetSmall, LeNet5, VGGSmall, alexnet_small, evolution_table, lenet5, vgg_small
from .inception import (
    INCEPTION_CONFIG,
    GoogLeNet,
    GoogLeNetOutputs,
    Inception,
    InceptionAux,
    InceptionNaive,
    googlenet,
    googlenet_loss,
)
from .resnet import (
    BasicBlock,
    Bottleneck,
    PlainNet,
    ResNet,
    plainnet_cifar,
    resnet18,
    resnet34,
    resnet50,
    resnet101,
    resnet152,
    resnet_cifar,
    se_resnet50,
    se_resnet_cifar,
)
from .se import SEBlock, se_gates

__all__ = [
    "ACTIVATIONS",
    "INCEPTION_CONFIG",
    "SPP",
    "AlexNetSmall",
    "BasicBlock",
    "Bottleneck",
    "ConvBlock",
    "GoogLeNet",
    "GoogLeNetOutputs",
    "Inception",
    "InceptionAux",
    "InceptionNaive",
    "LeNet5",
    "Mish",
    "PlainNet",
    "ResNet",
    "SEBlock",
    "VGGSmall",
    "alexnet_small",
    "evolution_table",
    "googlenet",
    "googlenet_loss",
    "lenet5",
    "plainnet_cifar",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "resnet_cifar",
    "se_gates",
    "se_resnet50",
    "se_resnet_cifar",
    "vgg_small",
]
from .mask_rcnn import MaskRCNN, MaskRCNNConfig, ShapesBackbone  # noqa: E402
from .roi_heads import RoIHeads  # noqa: E402
from .rpn import RegionProposalNetwork  # noqa: E402

__all__ += ["MaskRCNN", "MaskRCNNConfig", "RegionProposalNetwork", "RoIHeads", "ShapesBackbone"]
