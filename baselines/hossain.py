"""Hossain & Little (ECCV 2018) "Exploiting temporal information for 3D human pose estimation": a
sequence-to-sequence network of layer-normalised LSTMs with a residual decoder and a temporal smoothness loss.

Sources. The paper (arXiv 1711.08585; abstract: "a sequence-to-sequence network composed of
layer-normalized LSTM units with shortcut connections connecting the input to the output on the decoder side
and imposed temporal smoothness constraint during training") and the authors' TensorFlow release
(github.com/rayat137/Pose_3D, ``temporal_3d_release/temporal_model.py`` and ``temporal_3d.py``), from which
every size below is read. Section numbers of the paper are not quoted here: the full text was not available
to check them; "[code]" marks a fact read from the release, "[inferred]" a choice of ours.

Network (one T-frame window; T = ``frames`` = 5 [code: ``seqlen`` 5; the seed papers' "(T=5)"]):

* Encoder [code]: the flattened 2D poses x_t (2·J_in values) are read in **reverse time order** (x_T first,
  as in Sutskever et al.'s seq2seq) by: Linear(2·J_in -> H) -> dropout -> LN-LSTM(H) -> dropout. H = 1024,
  one layer (``hidden_size``, ``num_layers``); ``num_layers > 1`` stacks cells [inferred extension].
  The release also wraps the encoder in an output projection H -> 2·J_in whose output feeds nothing (its
  gradient is None); ``encoder_output_projection=True`` adds that dead layer so the parameter count equals
  the release's graph (see "Parameters"), off by default so every parameter trains.
* Decoder [code]: initial state = the encoder's final (c, h); it is **self-fed**, in training as at test
  (no teacher forcing): its input at step t is its own output at step t-1, and at step 1 a constant start
  pose (the release feeds ones in its z-scored output space; ``decoder_start``). Each step:
  Linear(3·J_out -> H) -> dropout -> LN-LSTM(H) -> dropout -> Linear(H -> 3·J_out) = Δ_t, and the residual
  connection (TF ``ResidualWrapper``: the step's output plus the step's input) gives

      y_t = y_{t-1} + Δ_t,   y_0 = start,

  i.e. the decoder predicts each frame's pose as a correction of the previous frame's prediction
  (``residual=False``: y_t = Δ_t).
* LN-LSTM cell (:class:`LayerNormLSTMCell`) = TF's ``tf.contrib.rnn.LayerNormBasicLSTMCell`` [code uses it]:
  gates = [x, h] W (one kernel, no bias when layer-normalised), split in the order i, j, f, o; each of the
  four pre-activations has its own layer norm (gain 1, shift 0 at init), then g = tanh(j) with recurrent
  dropout on g (Semeniuta et al. 2016, "without memory loss"), c' = LN_c(c·σ(f + forget_bias) + σ(i)·g)
  (layer norm on the new cell state), h' = tanh(c')·σ(o). forget_bias = 1 is a constant, not a parameter.
  Layer-norm epsilon 1e-12 (TF contrib ``layer_norm``'s variance epsilon).
* Dropout [code]: keep probability 0.5 (README command ``--dropout 0.5``, the released checkpoint's folder
  ``dropout_0.5``) used three ways: on the projected input, on the LSTM output (TF ``DropoutWrapper``,
  ``dropout``) and as the recurrent dropout on g (``recurrent_dropout``). A fresh mask every step (TF's
  non-variational dropout).
* Initialisation [code: TF defaults, the release sets none]: Glorot-uniform weights, zero biases.

Loss (:meth:`Hossain.loss_terms`) [code]: the release minimises
``mean((Ŷ - Y)^2) + 5 · mean(w_j · (Ŷ_t - Ŷ_{t-1})^2)`` on un-normalised millimetres: the smoothness
constraint penalises the **predicted** velocity (it does not compare it with the ground truth's), weighted
per joint: 1 for hips, torso, neck, head and shoulders; 2.5 for knees and feet; 4 for elbows and wrists.
Here the first term is the harness's per-pose loss (``train.loss``) and ``smoothness_weight`` (5) multiplies
the second, computed on the model's output in metres. With ``train.loss: mse`` this is the release's loss
exactly (both terms are means of squares, so the unit only rescales both); with the harness's default MPJPE
loss (metres, not squared) the smoothness term weighs far less than in the paper (a velocity of 5 mm/frame
squared is 2.5e-5 m^2 against an MPJPE of ~0.05 m) [inferred].

Recipe of the release [code] (the harness trains with its own; see ``notes``): Adam, learning rate 1e-5
decayed by 0.96 every 100k steps (continuous exponential decay), batch 32, 100 epochs, every stride-1
T-frame window of each training video (a random start offset 0..T-2 each epoch), shuffled. Input 2D:
16 joints (H36M-17 without Neck/Nose) z-scored; output 3D: 16 joints (H36M-17 without the root), root
relative, z-scored, camera frame; stacked-hourglass detections (``--use_sh``). Test: the release builds every
stride-1 window of a test video (``eval_step = 1`` here; the engine averages each frame's predictions over
the windows that contain it, which the release does not do: its scoring loop keeps all frames of the
windows of the first batch and then one window per batch).

Module contract: ``output_mode = "seq2seq"``, ``receptive_field = frames``, ``causal_shift = 0``,
``in_features = 2``; input (B, T, num_joints_in, 2) -> (B, T, num_joints_out, 3) root-relative metres. Any
T >= 1 works (the LSTMs unroll over what they get); the engine always feeds T = ``frames``. The model is not
causal: every output frame, the first included, depends on every input frame, because the decoder starts
from the state the encoder reaches after reading the whole window.

Parameters (H = 1024, one layer; a = 2·J_in, d = 3·J_out): each LN-LSTM cell 8H^2 + 10H (kernel
(H + H) x 4H, five layer norms of 2H); encoder input projection aH + H; decoder input projection dH + H and
output projection Hd + d; the optional dead encoder output projection Ha + a. Paper setting (16 -> 16):
16,930,864, or 16,963,664 with ``encoder_output_projection`` = the release's graph, which is the
"16.96M" of the attention-TCN paper's Table 1. Harness default (17 -> 17): 16,939,059.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bench.errors import ConfigError
from bench.models.options import choice, flag, int_option, probability
from bench.registry import register_model

LN_EPS = 1e-12  # TF contrib layer_norm's variance epsilon (the cell the release uses)
DECODER_STARTS = ("zeros", "ones")
JOINT_WEIGHTINGS = ("paper", "uniform")
# The release's smoothness weights by joint (temporal_model.py, 16 output joints = H36M-17 minus the root):
# knees and feet 2.5, elbows and wrists 4, every other joint 1. Matched here by joint name.
_HEAVY = {"Knee": 2.5, "Foot": 2.5, "Ankle": 2.5, "Elbow": 4.0, "Wrist": 4.0}
_H36M_NAMES = ("Hip", "RHip", "RKnee", "RFoot", "LHip", "LKnee", "LFoot", "Spine", "Thorax", "Neck/Nose", "Head",
               "LShoulder", "LElbow", "LWrist", "RShoulder", "RElbow", "RWrist")
# Output layouts the paper weighting knows: H36M-17, the paper's 16 (H36M-17 without the root), HumanEva-15.
_OUTPUT_NAMES = {
    17: _H36M_NAMES,
    16: _H36M_NAMES[1:],
    15: ("Hip", "Thorax", "LShoulder", "LElbow", "LWrist", "RShoulder", "RElbow", "RWrist", "LHip", "LKnee",
         "LAnkle", "RHip", "RKnee", "RAnkle", "Neck/Nose"),
}


def smoothness_joint_weights(num_joints: int, weighting: str = "paper") -> torch.Tensor:
    """Per-joint weights w_j of the smoothness term: the release's 1 / 2.5 / 4 by joint name ("paper"), or 1."""
    if weighting == "uniform":
        return torch.ones(num_joints)
    names = _OUTPUT_NAMES[num_joints]
    return torch.tensor([next((w for key, w in _HEAVY.items() if key in n), 1.0) for n in names])


class LayerNormLSTMCell(nn.Module):
    """One LSTM step with TF ``LayerNormBasicLSTMCell`` semantics (see the module docstring).

    Layer normalisation after Ba, Kiros & Hinton (2016), applied as TF applies it: separately to each gate's
    pre-activation (i, j, f, o; own gain and shift each) and to the new cell state; recurrent dropout on the
    candidate g = tanh(j) (Semeniuta et al. 2016). With ``layer_norm=False`` the kernel has a bias and the
    cell is a plain LSTM (``torch.nn.LSTMCell`` up to the gate order and the constant ``forget_bias``).
    ``forward(x, (h, c))`` -> (h', c').
    """

    GATES = ("input", "transform", "forget", "output")  # TF's split order i, j, f, o

    def __init__(self, input_size: int, hidden_size: int, layer_norm: bool = True, forget_bias: float = 1.0,
                 recurrent_dropout: float = 0.0):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.forget_bias, self.recurrent_dropout = forget_bias, recurrent_dropout
        # One kernel over [x, h] as TF's; no bias when layer-normalised (the norms' shifts replace it).
        self.linear = nn.Linear(input_size + hidden_size, 4 * hidden_size, bias=not layer_norm)
        self.norms = None
        if layer_norm:
            self.norms = nn.ModuleList(nn.LayerNorm(hidden_size, eps=LN_EPS) for _ in range(5))  # i, j, f, o, c
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Glorot-uniform kernel, zero bias, LN gain 1 / shift 0 (TF's defaults)."""
        nn.init.xavier_uniform_(self.linear.weight)
        if self.linear.bias is not None:
            nn.init.zeros_(self.linear.bias)
        if self.norms is not None:
            for norm in self.norms:
                nn.init.ones_(norm.weight)
                nn.init.zeros_(norm.bias)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]):
        h, c = state
        i, j, f, o = self.linear(torch.cat([x, h], dim=-1)).chunk(4, dim=-1)
        if self.norms is not None:
            i, j, f, o = (norm(z) for norm, z in zip(self.norms, (i, j, f, o)))
        g = F.dropout(torch.tanh(j), self.recurrent_dropout, self.training)
        c = c * torch.sigmoid(f + self.forget_bias) + torch.sigmoid(i) * g
        if self.norms is not None:
            c = self.norms[4](c)
        return torch.tanh(c) * torch.sigmoid(o), c


class _RecurrentSide(nn.Module):
    """Input projection -> [dropout -> LN-LSTM] x num_layers -> dropout (-> output projection): one side of the
    seq2seq network, one time step per call (TF InputProjectionWrapper(DropoutWrapper(cell)) and, where
    ``out_features`` is given, OutputProjectionWrapper around it)."""

    def __init__(self, in_features: int, hidden: int, layers: int, out_features: int | None, dropout: float,
                 recurrent_dropout: float, layer_norm: bool, forget_bias: float):
        super().__init__()
        self.dropout = dropout
        self.in_proj = nn.Linear(in_features, hidden)
        self.cells = nn.ModuleList(LayerNormLSTMCell(hidden, hidden, layer_norm, forget_bias, recurrent_dropout)
                                   for _ in range(layers))
        self.out_proj = nn.Linear(hidden, out_features) if out_features else None

    def step(self, x: torch.Tensor, states: list) -> tuple[torch.Tensor, list]:
        """(B, in) and one (h, c) per layer -> (B, H) top-layer output after dropout, new states."""
        z = self.in_proj(x)
        new = []
        for cell, state in zip(self.cells, states):
            # dropout on every layer's input and on the last output; the state itself is never dropped
            h, c = cell(F.dropout(z, self.dropout, self.training), state)
            new.append((h, c))
            z = h
        return F.dropout(z, self.dropout, self.training), new


class Hossain(nn.Module):
    """Hossain & Little seq2seq lifter; see the module docstring and :func:`hossain` for the options."""

    output_mode = "seq2seq"
    causal_shift = 0
    in_features = 2
    eval_step = 1  # the release builds every stride-1 test window

    def __init__(self, num_joints_in: int = 17, num_joints_out: int = 17, frames: int = 5,
                 hidden_size: int = 1024, num_layers: int = 1, dropout: float = 0.5,
                 recurrent_dropout: float = 0.5, layer_norm: bool = True, residual: bool = True,
                 reverse_input: bool = True, decoder_start: str = "zeros", forget_bias: float = 1.0,
                 encoder_output_projection: bool = False, smoothness_weight: float = 5.0,
                 smoothness_joints: str = "paper"):
        super().__init__()
        self.num_joints_in, self.num_joints_out = num_joints_in, num_joints_out
        self.receptive_field = self.train_out_frames = frames
        self.residual, self.reverse_input, self.decoder_start = residual, reverse_input, decoder_start
        self.hidden_size, self.num_layers = hidden_size, num_layers
        self.smoothness_weight = smoothness_weight
        a, d = self.in_features * num_joints_in, 3 * num_joints_out
        self.encoder = _RecurrentSide(a, hidden_size, num_layers, a if encoder_output_projection else None,
                                      dropout, recurrent_dropout, layer_norm, forget_bias)
        self.decoder = _RecurrentSide(d, hidden_size, num_layers, d, dropout, recurrent_dropout, layer_norm,
                                      forget_bias)
        self.register_buffer("joint_weights", smoothness_joint_weights(num_joints_out, smoothness_joints),
                             persistent=False)
        for m in (self.encoder.in_proj, self.encoder.out_proj, self.decoder.in_proj, self.decoder.out_proj):
            if m is not None:  # TF _Linear defaults: Glorot-uniform kernel, zero bias
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[2] != self.num_joints_in or x.shape[3] != self.in_features or x.shape[1] < 1:
            raise ValueError(f"hossain: expected input (batch, frames >= 1, {self.num_joints_in}, "
                             f"{self.in_features}), got {tuple(x.shape)}")
        b, t = x.shape[:2]
        seq = x.reshape(b, t, -1)
        if self.reverse_input:
            seq = seq.flip(1)
        zeros = x.new_zeros(b, self.hidden_size)
        states = [(zeros, zeros)] * self.num_layers
        for s in range(t):
            _, states = self.encoder.step(seq[:, s], states)
        # The decoder is self-fed from a constant start pose and starts from the encoder's final state.
        prev = x.new_full((b, 3 * self.num_joints_out), 1.0 if self.decoder_start == "ones" else 0.0)
        outs = []
        for _ in range(t):
            z, states = self.decoder.step(prev, states)
            y = self.decoder.out_proj(z)
            prev = prev + y if self.residual else y  # residual: y_t = y_{t-1} + Δ_t
            outs.append(prev)
        return torch.stack(outs, dim=1).view(b, t, self.num_joints_out, 3)

    def smoothness(self, pred: torch.Tensor) -> torch.Tensor:
        """mean over (batch, t, joint, xyz) of w_j (Ŷ_t - Ŷ_{t-1})^2: the release's smoothness term."""
        if pred.shape[1] < 2:
            return pred.new_zeros(())
        diff2 = (pred[:, 1:] - pred[:, :-1]) ** 2
        return (diff2 * self.joint_weights.to(pred.dtype)[:, None]).mean()

    def loss_terms(self, x: torch.Tensor, target: torch.Tensor, loss_fn, context: torch.Tensor | None = None):
        """loss_fn(Ŷ, Y) + smoothness_weight · smoothness(Ŷ) (the release's loss; see the module docstring).
        Returns (loss, prediction)."""
        pred = self(x)
        loss = loss_fn(pred, target)
        if self.smoothness_weight > 0:
            loss = loss + self.smoothness_weight * self.smoothness(pred)
        return loss, pred


@register_model(
    "hossain",
    citation="M. R. I. Hossain, J. J. Little. Exploiting temporal information for 3D human pose estimation. "
             "ECCV 2018 (arXiv 1711.08585).",
    paper="Sizes and recipe from the authors' release (github.com/rayat137/Pose_3D, temporal_model.py / "
          "temporal_3d.py); reported numbers as quoted by the seed papers: GAST-Net Table 1 and DG-Net Tables "
          "I/II (detections, T=5), DG-Net Table I (GT, P1) and Table X (GT/GT P2), attention TCN Table 9 "
          "(SH fine-tuned, GT) and Table 11 (GT + Gaussian noise, P2), Table 1 (16.96M parameters).",
    params={
        "num_joints_in=16, num_joints_out=16": 16_930_864,
        "num_joints_in=16, num_joints_out=16, encoder_output_projection=True": 16_963_664,
        "num_joints_in=17, num_joints_out=17": 16_939_059,
    },
    presets={
        "paper16": {"num_joints_in": 16, "num_joints_out": 16},
        "release_graph16": {"num_joints_in": 16, "num_joints_out": 16, "encoder_output_projection": True},
        "h36m17": {"num_joints_in": 17, "num_joints_out": 17},
    },
    notes="Architecture, dropout (0.5 input/output/recurrent), loss weights and sizes follow the authors' "
          "TensorFlow release. Differences: the harness trains with its own recipe (optimiser, lr, epochs, "
          "batch) instead of Adam 1e-5 / batch 32 / 100 epochs; its per-pose loss is train.loss (MPJPE by "
          "default; the release uses MSE, which train.loss=mse reproduces) plus the release's smoothness "
          "term x5; inputs are the harness's screen-normalised 2D, not z-scored; outputs are root-relative "
          "metres (17 joints by default, root included) rather than z-scored 16 joints, so the decoder starts "
          "from a zero pose (decoder_start=ones is the release's value in its z-scored space); test windows "
          "every frame with the engine's averaging. The release's dead encoder output projection is left out "
          "by default (16,930,864 parameters at 16 joints; encoder_output_projection=True gives its "
          "16,963,664 = the attention TCN's 16.96M). The paper's section numbers were not checked.",
)
def hossain(num_joints_in: int = 17, num_joints_out: int = 17, frames: int = 5, hidden_size: int = 1024,
            num_layers: int = 1, dropout: float = 0.5, recurrent_dropout: float = 0.5, layer_norm: bool = True,
            residual: bool = True, reverse_input: bool = True, decoder_start: str = "zeros",
            forget_bias: float = 1.0, encoder_output_projection: bool = False, smoothness_weight: float = 5.0,
            smoothness_joints: str = "paper") -> Hossain:
    """Hossain & Little (ECCV 2018) seq2seq LN-LSTM lifter. Options ([code] = the authors' release):

    num_joints_in / num_joints_out -- joints of the 2D input / 3D output (paper 16 / 16; harness 17 / 17).
    frames -- T, input = output length, 5 [code]. hidden_size -- LSTM units H, 1024 [code].
    num_layers -- LN-LSTM layers per side, 1 [code]. dropout -- on each LSTM's projected input and output,
    0.5 [code]. recurrent_dropout -- on the cell candidate g (Semeniuta et al.), 0.5 [code].
    layer_norm -- layer-normalised gates and cell state [code]; off: plain LSTM with a bias.
    residual -- decoder output = its input (the previous frame's prediction) + a correction [code].
    reverse_input -- the encoder reads the window last frame first [code].
    decoder_start -- the decoder's first input: zeros (a root-relative zero pose, [inferred]) or ones (the
    release's value, in its z-scored space). forget_bias -- constant added to the forget gate, 1 [code, TF
    default]. encoder_output_projection -- the release's unused encoder output layer (parameters only).
    smoothness_weight -- weight of the predicted-velocity penalty in ``loss_terms``, 5 [code].
    smoothness_joints -- per-joint weights of that penalty: paper (1; knees/feet 2.5; elbows/wrists 4 [code];
    needs 15, 16 or 17 output joints) or uniform.
    """
    for name, value in (("num_joints_in", num_joints_in), ("num_joints_out", num_joints_out), ("frames", frames),
                        ("hidden_size", hidden_size), ("num_layers", num_layers)):
        int_option("hossain", name, value)
    dropout = probability("hossain", "dropout", dropout)
    recurrent_dropout = probability("hossain", "recurrent_dropout", recurrent_dropout)
    for name, value in (("layer_norm", layer_norm), ("residual", residual), ("reverse_input", reverse_input),
                        ("encoder_output_projection", encoder_output_projection)):
        flag("hossain", name, value)
    choice("hossain", "decoder_start", decoder_start, DECODER_STARTS)
    if isinstance(forget_bias, bool) or not isinstance(forget_bias, (int, float)):
        raise ConfigError(f"hossain: forget_bias must be a number, got {forget_bias!r}")
    if isinstance(smoothness_weight, bool) or not isinstance(smoothness_weight, (int, float)) \
            or smoothness_weight < 0:
        raise ConfigError(f"hossain: smoothness_weight must be a number >= 0, got {smoothness_weight!r}")
    if smoothness_joints not in JOINT_WEIGHTINGS:
        raise ConfigError(f"hossain: smoothness_joints must be one of {', '.join(JOINT_WEIGHTINGS)}, "
                          f"got {smoothness_joints!r}")
    if smoothness_joints == "paper" and num_joints_out not in _OUTPUT_NAMES:
        raise ConfigError(f"hossain: smoothness_joints=paper weights joints by name and knows 15, 16 or 17 "
                          f"output joints, not num_joints_out={num_joints_out}; use smoothness_joints=uniform")
    return Hossain(num_joints_in, num_joints_out, frames, hidden_size, num_layers, dropout, recurrent_dropout,
                   layer_norm, residual, reverse_input, decoder_start, float(forget_bias),
                   encoder_output_projection, float(smoothness_weight), smoothness_joints)
