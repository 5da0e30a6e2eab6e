"""Makes the golden fixture (README.md beside it): the DiTFlow release's own functions
(ditflow/ditflow@4db379b: guidance_utils/custom_modules.InjectionProcessor,
guidance_utils/motion_flow_utils.compute_motion_flow, and the steps of motion_guidance.Guidance's
load_attn_features, run, guidance_step and compute_motion_flow_loss) on evalkit's tiny CogVideoX.
Not run by CI; needs the release on DITFLOW_RELEASE (read from outside this repository).

usage: DITFLOW_RELEASE=/tmp/ditflow_ref python make_fixture.py REPO_ROOT {rope|sincos|rope-rho} OUT.npz
(rope-rho: the release's RoPE mode, ρ optimised instead of z_t)"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.environ.get("DITFLOW_RELEASE", "/tmp/ditflow_ref"))   # a checkout of ditflow/ditflow@4db379b
sys.path.insert(0, sys.argv[1] + "/tests/generators")
import tiny_pipelines as tp
from guidance_utils.custom_modules import InjectionProcessor
from guidance_utils.motion_flow_utils import compute_motion_flow
from PIL import Image

variant, out = sys.argv[2], sys.argv[3]
optimise_rho = variant == "rope-rho"
RHO = None   # the release's optimised_rope [2 (Q, K), 2 (cos, sin), S, D] while set
SEED, STEPS, OPT_STEPS, TEMP, BLOCK = 0, 2, 5, 2.0, 1
if variant in ("rope", "rope-rho"):
    pipe = tp.tiny_cogvideox()
else:
    from guidance_tiny import tiny_cogvideox_sincos
    pipe = tiny_cogvideox_sincos()
for m in (pipe.transformer, pipe.text_encoder, pipe.vae):
    m.eval()   # as from_pretrained leaves them (a constructed T5 is in train mode: dropout)
tr = pipe.transformer
for p in tr.parameters():
    p.requires_grad_(False)
proc = InjectionProcessor(block_name=f"block_{BLOCK}_attn1_processor")
KV_BLOCK = 0                                                     # config injection_blocks: [0]
kv_proc = InjectionProcessor(block_name=f"block_{KV_BLOCK}_attn1_processor")


class ReleaseRopeConvention:
    # the release's ControlledTransformer hands every block (q_rope, k_rope), each (cos, sin), both ρ
    def __init__(self, proc):
        self.proc = proc

    def __call__(self, attn, hidden_states, encoder_hidden_states, attention_mask=None, image_rotary_emb=None):
        rope2 = None if image_rotary_emb is None else (image_rotary_emb, image_rotary_emb)
        if RHO is not None:
            rope2 = (RHO[0].chunk(2), RHO[1].chunk(2))
        return self.proc(attn, hidden_states, encoder_hidden_states, attention_mask, rope2)


tr.transformer_blocks[BLOCK].attn1.set_processor(ReleaseRopeConvention(proc))
tr.transformer_blocks[KV_BLOCK].attn1.set_processor(ReleaseRopeConvention(kv_proc))

frames = tp.moving_square(9, (48, 48))
# release load_latent: PIL frames -> video_processor.preprocess_video -> VAE (it samples; we take the mode)
video = pipe.video_processor.preprocess_video([Image.fromarray(f) for f in frames])
with torch.no_grad():
    x0 = pipe.vae.config.scaling_factor * pipe.vae.encode(video).latent_dist.mode()
x0 = x0.permute(0, 2, 1, 3, 4)                                   # [1, F, C, h, w]
F_lat, h, w = x0.shape[1], x0.shape[3] // 2, x0.shape[4] // 2
with torch.no_grad():
    empty, _ = pipe.encode_prompt("", None, False, device="cpu")
    target, _ = pipe.encode_prompt("a cat runs", None, False, device="cpu")
rope = None
if tr.config.use_rotary_positional_embeddings:
    rope = pipe._prepare_rotary_positional_embeddings(48, 48, F_lat, "cpu")

def forward(x, t, emb):
    tr(hidden_states=x, encoder_hidden_states=emb, timestep=torch.tensor([t]).expand(x.shape[0]),
       image_rotary_emb=rope, return_dict=False)
    return proc.query, proc.key

# load_attn_features: t = 0 (motion_timestep), source prompt "" (config), argmax AMF
proc.copy_kv = True
with torch.no_grad():
    q, k = forward(x0, 0, empty)
ref = compute_motion_flow(q, k, h=h, w=w, temp=TEMP, nframes=F_lat, argmax=True)

pipe.scheduler.set_timesteps(STEPS)
t0 = int(pipe.scheduler.timesteps[0])
gen = torch.Generator("cpu").manual_seed(SEED)
z = pipe.prepare_latents(1, 4, 9, 48, 48, torch.float32, "cpu", gen)
# release: self.lr_range = np.linspace(lr[0], lr[1], num_guidance_steps) with num_guidance_steps =
# range[0] - range[1] + 1 guided steps + 1 points; one guided step here -> linspace(0.002, 0.001, 2)[0]
# run(): before a guided step, K and V of the injection block from the source latent noised to t
# with the generation's initial latents (target prompt), injected into the step's passes
kv_proc.copy_kv, kv_proc.inject_kv = True, False
with torch.no_grad():
    noisy = pipe.scheduler.scale_model_input(pipe.scheduler.add_noise(x0, z, torch.tensor(t0)), t0)
    forward(noisy, t0, target)
kv_proc.copy_kv, kv_proc.inject_kv = False, True
lr = float(np.linspace(0.002, 0.001, 2)[0])
x = z.clone().detach().to(torch.float32).requires_grad_(not optimise_rho)
if optimise_rho:   # guidance_step, mode "rope": one ρ for Q and one for K, both from ρ₀
    import diffusers.models.embeddings as emb_module

    # autograd adapter, values unchanged: the processor writes RoPE'd Q, K in place into the tensor
    # apply_rotary_emb saved for the ρ gradient; under the release's bf16 autocast x.float() is a
    # copy, in float32 it is not, so copy it here
    _apply = emb_module.apply_rotary_emb
    emb_module.apply_rotary_emb = lambda x, freqs, *a, **k: _apply(x.clone(), freqs, *a, **k)
    RHO = torch.stack([torch.stack(rope), torch.stack(rope)]).float().requires_grad_(True)
opt = torch.optim.Adam([RHO if optimise_rho else x], lr=lr)
losses = []
for _ in range(OPT_STEPS):
    opt.zero_grad()
    qg, kg = forward(x, t0, target)
    flow = compute_motion_flow(qg, kg, h=h, w=w, temp=TEMP, nframes=F_lat)
    idxs = torch.norm(ref, dim=-1) > 0                                  # threshloss: True
    loss = F.mse_loss(ref[idxs], flow[idxs])
    loss.backward()
    opt.step()                                                          # GradScaler is inactive without CUDA
    losses.append(float(loss.detach()))
extra = {"optimised_rope": RHO.detach().numpy()} if optimise_rho else {}
np.savez(out, reference_amf=ref.numpy().astype(np.float32), losses=np.array(losses, np.float64),
         initial_latents=z.numpy(), optimised_latents=x.detach().numpy(), source_latents=x0.numpy(),
         timestep=np.array(t0), lr=np.array(lr), **extra)
print(variant, "t0", t0, "lr", lr, "losses", losses, "moving", int(idxs.sum()), "of", idxs.numel())
