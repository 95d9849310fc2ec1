#!/usr/bin/python3
"""Makes the real-model fixtures under testmodels/: seeded random weights, no pretrained downloads.

For each model it writes testmodels/<model>/{model.onnx, model.pt, input0.npy, output0.npy}:
ONNX opset 13 (input "input0", output "output0", static batch 1), a traced TorchScript module,
a seeded golden input and torch's output for it. Every model is made in its own process from
torch.manual_seed(SEED), so its files do not depend on which other models are made in the same run.

Usage (Debian's python, which has torch 1.13, torchvision and onnx):
    /usr/bin/python3 testmodels/make_fixtures.py              # the committed (small) models
    /usr/bin/python3 testmodels/make_fixtures.py resnet18     # a model made on demand
    /usr/bin/python3 testmodels/make_fixtures.py --all        # everything
"""
import os
import subprocess
import sys

import numpy as np
import torch
import torchvision

SEED = 20240601
OPSET = 13
HERE = os.path.dirname(os.path.abspath(__file__))
ZOO_HEADING = "## Model zoo"


def randomise_norm_affine(model):
    """Random BatchNorm/LayerNorm weight and bias: with the defaults (1 and 0) a folding bug would not show."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (torch.nn.BatchNorm2d, torch.nn.LayerNorm)):
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0.0, 0.1)


def randomise_batchnorm_statistics(model, calibration_batch):
    """Running statistics measured on random images, then jittered (mean + N(0, 0.1) sigma, var x U(0.5, 1.5)).
    Measuring first keeps activations in range through the depth, so the logits depend on the input;
    the defaults (mean 0, var 1) would leave them vanishing or near input-independent, and a folding bug hidden."""
    batchnorms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    if not batchnorms:
        return
    for bn in batchnorms:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the calibration batch
    model.train()
    with torch.no_grad():
        model(calibration_batch)
        for bn in batchnorms:
            bn.running_mean.add_(torch.randn_like(bn.running_mean) * 0.1 * bn.running_var.sqrt())
            bn.running_var.mul_(torch.empty_like(bn.running_var).uniform_(0.5, 1.5))


def random_images(count):
    """Image-like inputs: low-resolution noise upsampled, plus fine noise. Pure per-pixel noise averages
    out in the global pooling, which makes every input give nearly the same logits."""
    coarse = torch.nn.functional.interpolate(torch.randn(count, 3, 8, 8), size=(224, 224), mode="bilinear",
                                             align_corners=False)
    return coarse + 0.1 * torch.randn(count, 3, 224, 224)


def last_layer(model):
    """The classifier's final Conv2d/Linear (the last one registered in these torchvision models)."""
    layers = [m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    return layers[-1]


def scale_logits_to_unit_std(model, example):
    """torchvision initialises the classifier with std 0.01, so logits are tiny; scaling the final layer's
    weight and bias by one positive factor scales the logits exactly (ReLU and pooling after it commute)."""
    with torch.no_grad():
        std = model(example).std().item()
        layer = last_layer(model)
        layer.weight.mul_(1.0 / std)
        if layer.bias is not None:
            layer.bias.mul_(1.0 / std)


def image_model(name):
    def build():
        model = getattr(torchvision.models, name)(weights=None)
        randomise_norm_affine(model)
        randomise_batchnorm_statistics(model, random_images(8))
        model.eval()
        scale_logits_to_unit_std(model, random_images(1))
        return model, random_images
    return build


def transformer_encoder():
    layer = torch.nn.TransformerEncoderLayer(d_model=128, nhead=4, dim_feedforward=256, activation="gelu",
                                             batch_first=True)
    model = torch.nn.TransformerEncoder(layer, num_layers=2)
    # TransformerEncoder deep-copies one layer, so both layers would share identical weights; re-draw each.
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.dim() > 1:
                torch.nn.init.xavier_uniform_(param)
            elif "norm" not in name:
                param.normal_(0.0, 0.02)
    randomise_norm_affine(model)
    model.eval()
    return model, lambda count: torch.randn(count, 16, 128)


# name -> (builder, committed to git, what it is)
MODELS = {
    "squeezenet1_1": (image_model("squeezenet1_1"), True, "torchvision squeezenet1_1, input [1,3,224,224]"),
    "mobilenet_v2": (image_model("mobilenet_v2"), True, "torchvision mobilenet_v2, input [1,3,224,224]"),
    "transformer_encoder": (transformer_encoder, True,
                            "nn.TransformerEncoder, 2 layers, d_model 128, 4 heads, ff 256, gelu, input [1,16,128]"),
    "resnet18": (image_model("resnet18"), False, "torchvision resnet18, input [1,3,224,224]"),
}


def check_not_degenerate(name, model, make_input, output):
    """Comparisons against these outputs only mean something if the outputs vary and depend on the input."""
    values = output.flatten()
    if not torch.isfinite(values).all():
        raise SystemExit(f"{name}: output has non-finite values")
    distinct = torch.unique(values).numel() / values.numel()
    zeros = (values == 0).float().mean().item()
    with torch.no_grad():
        other = model(make_input(1))
    input_dependence = ((other - output).std() / output.std()).item()
    print(f"  output std {values.std().item():.4f}, max|.| {values.abs().max().item():.4f}, "
          f"distinct {distinct:.1%}, zeros {zeros:.1%}, std(other input - golden)/std {input_dependence:.3f}")
    if distinct < 0.5 or zeros > 0.5 or input_dependence < 0.03:
        raise SystemExit(f"{name}: output is degenerate")


def make(name):
    build, _, _ = MODELS[name]
    torch.manual_seed(SEED)
    model, make_input = build()
    # The golden input is drawn after the weights, from its own fixed seed.
    torch.manual_seed(SEED + 1)
    golden_input = make_input(1)
    # Grad stays enabled: in eval mode under no_grad, TransformerEncoder takes a fused fast path that
    # neither tracing nor ONNX export sees; keeping it enabled makes golden, trace and export one code path.
    golden_output = model(golden_input).detach()
    check_not_degenerate(name, model, make_input, golden_output)

    out_dir = os.path.join(HERE, name)
    os.makedirs(out_dir, exist_ok=True)
    np.save(os.path.join(out_dir, "input0.npy"), golden_input.numpy().astype(np.float32))
    np.save(os.path.join(out_dir, "output0.npy"), golden_output.numpy().astype(np.float32))
    # PRESERVE (with the model in eval mode) keeps BatchNormalization nodes instead of folding them into Conv.
    torch.onnx.export(model, (golden_input,), os.path.join(out_dir, "model.onnx"), opset_version=OPSET,
                      input_names=["input0"], output_names=["output0"], do_constant_folding=False,
                      training=torch.onnx.TrainingMode.PRESERVE)
    traced = torch.jit.trace(model, (golden_input,), check_trace=False)
    traced.save(os.path.join(out_dir, "model.pt"))
    for file in sorted(os.listdir(out_dir)):
        print(f"  {file}: {os.path.getsize(os.path.join(out_dir, file)) / 1e6:.2f} MB")


def parameter_megabytes(name):
    torch.manual_seed(SEED)
    model, _ = MODELS[name][0]()
    return sum(p.numel() for p in model.parameters()) * 4 / 1e6


def write_readme():
    rows = []
    for name, (_, committed, what) in MODELS.items():
        status = "committed" if committed else f"on demand (git-ignored): `make_fixtures.py {name}`"
        rows.append(f"| `{name}` | {what} | ~{parameter_megabytes(name):.0f} MB | {status} |")
    text = f"""# Model fixtures

Real models with seeded random weights (no pretrained downloads), made by `make_fixtures.py`.
Each `<model>/` folder holds:

- `model.onnx`: ONNX opset {OPSET}, input `input0`, output `output0`, static batch 1, exported from eval mode
  with BatchNormalization kept as nodes (not folded into Conv) and no constant folding;
- `model.pt`: the same model as TorchScript (`torch.jit.trace`);
- `input0.npy`: the golden input (float32, seeded; for images, upsampled low-resolution noise plus fine noise);
- `output0.npy`: torch's output for it (float32).

BatchNorm running statistics are measured on random images and then jittered, and BatchNorm/LayerNorm
weights and biases are random, so that folding bugs show; the final classifier layer is scaled so the
logits have unit standard deviation. The script checks each output is finite, varied and depends on the
input. TransformerEncoder's two layers get independent weights (by default they are copies of one layer).

| model | what | size of model.onnx / model.pt (each) | status |
|---|---|---|---|
{chr(10).join(rows)}

Make them with Debian's python (it has torch 1.13, torchvision and onnx):

    /usr/bin/python3 testmodels/make_fixtures.py              # the committed models
    /usr/bin/python3 testmodels/make_fixtures.py resnet18     # models made on demand
    /usr/bin/python3 testmodels/make_fixtures.py --all        # everything

Every model starts from the same fixed seed, is made in its own process and torch runs single-threaded,
so the files come out byte-identical on every run (checked with torch 1.13). `FixtureModelsTest` in the server module checks Kiln's
interpreter against `output0.npy` and against ONNX Runtime; it skips models that are not present.
"""
    # The zoo's section (from its heading on) is make_zoo.py's: keep it.
    path = os.path.join(HERE, "README.md")
    zoo = ""
    if os.path.exists(path):
        with open(path) as readme:
            old = readme.read()
        if ZOO_HEADING in old:
            zoo = "\n" + old[old.index(ZOO_HEADING):]
    with open(path, "w") as readme:
        readme.write(text + zoo)


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
        names = [name for name, (_, committed, _) in MODELS.items() if committed]
    unknown = [name for name in names if name not in MODELS]
    if unknown:
        raise SystemExit(f"unknown model(s) {unknown}; known: {list(MODELS)}")
    for name in names:
        print(name, flush=True)
        # Each model in a fresh process: TorchScript mangles the names of module types already compiled
        # in the process, so model.pt would otherwise depend on which models were made before it.
        # Run by relative name from this folder: model.pt records the tracing call stack's file names.
        subprocess.run([sys.executable, os.path.basename(__file__), "--one", name], cwd=HERE, check=True)
    write_readme()


if __name__ == "__main__":
    main(sys.argv[1:])
