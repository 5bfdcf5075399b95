"""Prompt templates, per-class template selection and learned prompt context: beyond the paper (off by default).

The paper (Sec. 3.1.2) embeds the bare class names; clip_text.encode_class_names does that. This file holds the
prompt options of `train.py --prompts` and what they need:

- PROMPT_TEMPLATES: template sets. "name" is the paper's bare name; "photo" and "ensemble" are OpenAI's CLIP
  prompt engineering (Radford et al., ICML 2021); "context" is a set written for boundaries, the set that
  `--prompts select` chooses from.
- select_templates / TemplateSelector (`--prompts select`): one template per class, chosen
  from image evidence, after CA-CL (2025, "context prompt set") and MTA-CLIP (Das et al., ECCV 2024,
  context-specific prompts). Adapted for edges: class k's evidence is the pixel embedding averaged over k's
  ground-truth EDGE pixels, not its mask. `TemplateSelector.after_step` is the whole per-step work of train.py.
- PromptLearner (`--prompts learned`): CoOp (Zhou et al., IJCV 2022), learnable context vectors in front of each
  class name, run through the frozen text transformer. Adapted: trained by the edge loss through the fusion.
The CLIP side of these options (encoding the template bank, tokenizing the learner's prompts) is in model.py
(`build_prompt_state`), which imports clip_text: this folder never imports the top level.

Symbols as in model.py; T_n is the number of templates, N_ctx the number of context tokens, E the token width.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

PROMPT_TEMPLATES = {
    "name": ["{}"],  # the paper: the class name alone
    "photo": ["a photo of a {}."],
    # the 7 ImageNet templates OpenAI's prompt-engineering notebook selected
    "ensemble": ["itap of a {}.", "a bad photo of the {}.", "a origami {}.", "a photo of the large {}.",
                 "a {} in a video game.", "art of the {}.", "a photo of the small {}."],
    # a context prompt set for edges (CA-CL's "context prompt set", MTA-CLIP's context-specific prompts), written
    # for boundaries: the set that `--prompts select` chooses from, one template per class (see TemplateSelector)
    "context": ["{}", "a photo of a {}.", "the outline of a {}.", "the boundary of the {}.", "the edges of a {}.",
                "a {} in a cluttered scene.", "a partly occluded {}.", "a close-up photo of a {}."],
}
PROMPT_MODES = ("fixed", "select", "learned")  # fixed: the mean over a template set ("name": the paper)


def templates_of(name):
    """The template list of PROMPT_TEMPLATES[name], or a ValueError listing the sets."""
    if name not in PROMPT_TEMPLATES:
        raise ValueError(f"related/prompts.py: unknown prompt template set {name!r}; choose one of "
                         f"{sorted(PROMPT_TEMPLATES)}")
    return PROMPT_TEMPLATES[name]


def select_templates(bank, class_embeddings):
    """bank (K, T_n, D), class_embeddings (K, D) -> per class the template of largest cosine, LongTensor (K,)."""
    sim = torch.einsum("ktd,kd->kt", F.normalize(bank, dim=-1), F.normalize(class_embeddings, dim=-1))  # (K, T_n)
    return sim.argmax(dim=1)  # (K,)


class TemplateSelector:
    """Dynamic per-class prompt selection (CA-CL 2025; MTA-CLIP, ECCV 2024), adapted for edges: class k's
    evidence is the pixel embedding (B, D, h, w) (f_I in the text space, trained by loss_contrast) averaged over
    k's ground-truth EDGE pixels since the last choice; `choose()` takes the nearest template (unseen: kept).
    train.py calls `after_step(model, outputs, edges, step)` once per step; every `every` steps it re-chooses."""

    def __init__(self, num_classes, dim, every=100):
        self.every = every
        self.sums = torch.zeros(num_classes, dim)  # (K, D)
        self.counts = torch.zeros(num_classes)  # (K,)

    @torch.no_grad()
    def update(self, pixel_embeddings, edges):
        B, D, h, w = pixel_embeddings.shape
        if self.sums.device != pixel_embeddings.device:  # accumulate where the model runs: no sync per step
            self.sums, self.counts = self.sums.to(pixel_embeddings.device), self.counts.to(pixel_embeddings.device)
        weight = F.adaptive_avg_pool2d(edges.float(), (h, w))  # (B, K, h, w): edge fraction of each cell
        x = F.normalize(pixel_embeddings.float(), dim=1)  # (B, D, h, w)
        self.sums += torch.einsum("bkhw,bdhw->kd", weight, x)  # (K, D)
        self.counts += weight.sum(dim=(0, 2, 3))  # (K,)

    def choose(self, bank, current):
        """bank (K, T_n, D), current choice (K,) -> new choice (K,); resets the accumulated evidence."""
        sums, counts = self.sums.to(bank.device), self.counts.to(bank.device)
        new = select_templates(bank, sums / counts.clamp(min=1e-6).unsqueeze(1))  # (K,)
        choice = torch.where(counts > 0, new, current.to(bank.device))  # (K,): unseen classes keep theirs
        self.sums.zero_()
        self.counts.zero_()
        return choice.to(current.device)

    def after_step(self, model, outputs, edges, step):
        """After optimizer step number `step` (counted from 1): gather this batch's evidence; every `every` steps
        re-choose the templates and return {class name: chosen template}, else None. `model` may be wrapped by
        DistributedDataParallel (DDP broadcasts rank 0's choice, a buffer, on the next forward)."""
        self.update(outputs["pixel_embeddings"].detach(), edges)
        if step % self.every != 0:
            return None
        model = getattr(model, "module", model)
        model.set_prompt_choice(self.choose(model.prompt_bank, model.prompt_choice))
        templates = templates_of(model.cfg.prompt_templates)
        return {name: templates[i] for name, i in zip(model.cfg.class_names, model.prompt_choice.tolist())}

    def state_dict(self):
        """This process's evidence since the last choice, for an exact resume."""
        return {"sums": self.sums.cpu().clone(), "counts": self.counts.cpu().clone()}

    def load_state_dict(self, state):
        self.sums, self.counts = state["sums"].clone(), state["counts"].clone()


class PromptLearner(nn.Module):
    """Learnable prompt context, CoOp (Zhou et al., IJCV 2022, Sec. 3.2, unified context): class k's prompt is
    [V]_1 ... [V]_N_ctx [CLASS_k] "." with N_ctx learned token embeddings shared by all classes, run through the
    FROZEN text transformer; only the context (N_ctx, E) is trained, here by the edge loss through the fusion (and
    loss_contrast / loss_t2p) instead of CoOp's classification loss. The encoder is held but NOT a submodule
    (its 63M weights stay out of the state dict; `_apply` moves it); encoder=None (evaluation): only ctx."""

    def __init__(self, encoder, tokens=None, n_ctx=4, ctx_tokens=None, width=512):
        """tokens (K, L): the tokenized prompts "X X .. X name." (model.prompt_learner_for, with clip_text), one
        placeholder token per context vector after the start token; ctx_tokens (N_ctx,): token ids to start the
        context from (CoOp's initialisation from words), or None for N(0, 0.02^2)."""
        super().__init__()
        object.__setattr__(self, "encoder", encoder)  # not a submodule, see the docstring
        if encoder is None:  # for evaluation: ctx from the state dict, f_T from the model's buffer, no forward()
            self.ctx = nn.Parameter(torch.zeros(n_ctx, width))
            return
        eot_index = tokens.argmax(dim=-1)  # (K,): the end token has the largest id
        L = int(eot_index.max()) + 1  # the causal mask makes the padding after the last end token irrelevant
        device = encoder.token_embedding.weight.device
        with torch.no_grad():
            embedding = encoder.token_embedding(tokens[:, :L].to(device)).float()  # (K, L, E)
        self.register_buffer("token_prefix", embedding[:, :1].clone(), persistent=False)  # (K, 1, E): start token
        self.register_buffer("token_suffix", embedding[:, 1 + n_ctx:].clone(), persistent=False)  # (K, L-1-N_ctx, E)
        self.register_buffer("eot_index", eot_index.to(device), persistent=False)  # (K,)
        if ctx_tokens is not None:  # e.g. "a photo of a": start from real words (CoOp's initialisation option)
            with torch.no_grad():
                ctx = encoder.token_embedding(ctx_tokens.to(device))  # (N_ctx, E)
        else:
            ctx = torch.randn(n_ctx, encoder.width) * 0.02  # CoOp's random initialisation, N(0, 0.02^2)
        self.ctx = nn.Parameter(ctx.float().clone())  # (N_ctx, E), the only trained tensor

    def _apply(self, fn, recurse=True):
        super()._apply(fn, recurse)
        if self.encoder is not None:
            self.encoder._apply(fn, recurse)  # the unregistered frozen encoder follows device and dtype moves
        return self

    def forward(self):
        if self.encoder is None:
            raise RuntimeError("related/prompts.py: PromptLearner was rebuilt without the CLIP text encoder "
                               "(evaluation): use the model's text_features buffer, or build the model with "
                               "--clip-weights to train")
        ctx = self.ctx.unsqueeze(0).expand(self.token_prefix.shape[0], -1, -1)  # (K, N_ctx, E)
        x = torch.cat([self.token_prefix, ctx, self.token_suffix], dim=1)  # (K, L, E): SOT, V_1.., name, ., EOT
        f_T = self.encoder.encode_from_embeddings(x, self.eot_index)  # (K, D), gradient flows to ctx only
        return F.normalize(f_T.float(), dim=-1)  # (K, D), unit length like encode_class_names
