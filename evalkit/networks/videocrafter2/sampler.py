"""The two samplers of the VideoCrafter2 family, with a diffusers-like scheduler interface
(``set_timesteps``, ``timesteps``, ``step``, ``add_noise``, ``init_noise_sigma``).

- :class:`LVDMDDIMScheduler`: VideoCrafter's DDIM sampler (lvdm/models/samplers/ddim.py) with
  VideoCrafter2's latent scale schedule (``use_scale``, ddpm3d.py): ``scale_arr`` =
  linspace(scale_a, scale_b, 400) then scale_b (0.7 for VideoCrafter2); ``q_sample`` multiplies
  x0 by ``scale_arr[t]``; each DDIM step divides the predicted x0 by its scale and multiplies it
  by the previous step's. "Uniform" discretisation: timesteps 1, 21, …, 981 for 50 steps
  (the paper's t = 1000, 980, …); the step after t=1 lands on ᾱ₀ (not 1). The official run
  script uses η = 1 (ancestral, the paper's "50 DDPM steps").
- :class:`TurboLCMScheduler`: T2V-Turbo's consistency sampler (scheduler/t2v_turbo_scheduler.py of
  Ji4chenLi/t2v-turbo): timesteps from a 200-step grid (999, 874, … for 8 steps), the boundary
  condition c_skip/c_out, fresh noise between steps, the last step's x0 prediction returned.

``step(..., deterministic=True)`` replaces the fresh noise by the predicted one (DDIM, η = 0):
what evalkit's latent-consistency pass (Motion by Queries App. A.1) uses.
"""
from __future__ import annotations

import numpy as np
import torch

from evalkit.errors import EvalkitError


def _randn(shape, generator, device, dtype):
    gen_device = generator.device if generator is not None else torch.device(device)
    return torch.randn(shape, generator=generator, device=gen_device, dtype=dtype).to(device)


class _Scheduler:
    init_noise_sigma = 1.0
    order = 1

    def __init__(self, alphas_cumprod: np.ndarray) -> None:
        self.alphas_cumprod = torch.from_numpy(np.asarray(alphas_cumprod, np.float64)).float()
        self.num_train_timesteps = len(alphas_cumprod)
        self.timesteps = torch.arange(self.num_train_timesteps - 1, -1, -1)

    def _index(self, timestep) -> int:
        t = int(timestep)
        hits = (self.timesteps == t).nonzero()
        if not len(hits):
            raise EvalkitError(f"timestep {t} is not on the schedule {self.timesteps.tolist()}")
        return int(hits[0])

    def _scale(self, t) -> float:
        return 1.0

    def add_noise(self, original_samples, noise, timesteps):
        """q(x_t | x_0) at ``timesteps`` (one timestep for the batch)."""
        t = int(torch.as_tensor(timesteps).reshape(-1)[0])
        a = float(self.alphas_cumprod[t])
        return a ** 0.5 * self._scale(t) * original_samples + (1 - a) ** 0.5 * noise


class LVDMDDIMScheduler(_Scheduler):
    def __init__(self, linear_start: float = 0.00085, linear_end: float = 0.012, num_train_timesteps: int = 1000,
                 use_scale: bool = True, scale_a: float = 1.0, scale_b: float = 0.7, mid_step: int = 400,
                 eta: float = 1.0) -> None:
        # lvdm make_beta_schedule("linear"): betas = linspace(√start, √end)² in float64
        betas = np.linspace(linear_start ** 0.5, linear_end ** 0.5, num_train_timesteps, dtype=np.float64) ** 2
        super().__init__(np.cumprod(1.0 - betas))
        self.use_scale, self.eta = use_scale, float(eta)
        # ddpm3d: concatenate(linspace(a, b, mid_step), full(timesteps, b)) (the unfixed "scale bug": 1400 long)
        self.scale_arr = np.concatenate([np.linspace(scale_a, scale_b, mid_step),
                                         np.full(num_train_timesteps, scale_b)])

    @classmethod
    def from_config(cls, diff, eta: float = 1.0) -> "LVDMDDIMScheduler":
        """From a :class:`~.config.DiffusionConfig` (η = 1: the official run script's)."""
        return cls(diff.linear_start, diff.linear_end, diff.timesteps, diff.use_scale, diff.scale_a, diff.scale_b,
                   diff.mid_step, eta=eta)

    def _scale(self, t) -> float:
        return float(self.scale_arr[int(t)]) if self.use_scale else 1.0

    def set_timesteps(self, num_inference_steps: int, device=None) -> None:
        c = self.num_train_timesteps // int(num_inference_steps)
        ddim = np.arange(0, self.num_train_timesteps, c) + 1          # make_ddim_timesteps("uniform")
        if len(ddim) != int(num_inference_steps):
            raise EvalkitError(f"VideoCrafter's uniform DDIM discretisation gives {len(ddim)} timesteps for "
                             f"{num_inference_steps} steps (the official sampler fails there too); use a step count "
                             f"n with ceil({self.num_train_timesteps}/({self.num_train_timesteps}//n)) = n, e.g. 50")
        self.timesteps = torch.from_numpy(ddim[::-1].copy()).to(device)
        self._prev = [0] + ddim[:-1].tolist()                            # ᾱ_prev: ᾱ[0] after the last step
        self._ddim = ddim.tolist()

    def step(self, model_output, timestep, sample, generator=None, eta: float | None = None,
             deterministic: bool = False, return_dict: bool = False):
        """x_{t-1} and the x0 prediction (p_sample_ddim with use_scale)."""
        i = self._ddim.index(int(timestep))
        t, t_prev = self._ddim[i], self._prev[i]
        a_t, a_prev = float(self.alphas_cumprod[t]), float(self.alphas_cumprod[t_prev])
        eta = 0.0 if deterministic else (self.eta if eta is None else eta)
        sigma = eta * ((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)) ** 0.5
        pred_x0 = (sample - (1 - a_t) ** 0.5 * model_output) / a_t ** 0.5
        dir_xt = (1.0 - a_prev - sigma ** 2) ** 0.5 * model_output
        pred_x0 = pred_x0 / self._scale(t)
        prev = a_prev ** 0.5 * self._scale(t_prev) * pred_x0 + dir_xt
        if sigma > 0:
            prev = prev + sigma * _randn(sample.shape, generator, sample.device, sample.dtype)
        return prev, pred_x0


class TurboLCMScheduler(_Scheduler):
    def __init__(self, linear_start: float = 0.00085, linear_end: float = 0.012, num_train_timesteps: int = 1000,
                 lcm_origin_steps: int = 200) -> None:
        # T2VTurboScheduler("scaled_linear"): the same betas, computed in float32 there
        betas = torch.linspace(linear_start ** 0.5, linear_end ** 0.5, num_train_timesteps, dtype=torch.float32) ** 2
        super().__init__(torch.cumprod(1.0 - betas, dim=0).numpy())
        self.lcm_origin_steps = int(lcm_origin_steps)

    def set_timesteps(self, num_inference_steps: int, device=None) -> None:
        c = self.num_train_timesteps // self.lcm_origin_steps
        origin = np.arange(1, self.lcm_origin_steps + 1) * c - 1
        skip = len(origin) // int(num_inference_steps)
        self.timesteps = torch.from_numpy(origin[::-skip][:num_inference_steps].copy()).to(device)

    @staticmethod
    def boundary(t: int) -> tuple[float, float]:
        """c_skip, c_out of the consistency function (σ_data = 0.5, timestep scaling 10)."""
        s = t / 0.1
        return 0.25 / (s ** 2 + 0.25), s / (s ** 2 + 0.25) ** 0.5

    def step(self, model_output, timestep, sample, generator=None, deterministic: bool = False,
             return_dict: bool = False):
        """(the next step's noisy sample, the denoised x0); after the last step the next sample is
        the denoised one when ``deterministic``."""
        i = self._index(timestep)
        t = int(timestep)
        last = i + 1 >= len(self.timesteps)
        t_prev = t if last else int(self.timesteps[i + 1])
        a_t, a_prev = float(self.alphas_cumprod[t]), float(self.alphas_cumprod[t_prev])
        c_skip, c_out = self.boundary(t)
        pred_x0 = (sample - (1 - a_t) ** 0.5 * model_output) / a_t ** 0.5
        denoised = c_out * pred_x0 + c_skip * sample
        if len(self.timesteps) == 1 or (deterministic and last):
            return denoised, denoised
        noise = model_output if deterministic else _randn(sample.shape, generator, sample.device, sample.dtype)
        return a_prev ** 0.5 * denoised + (1 - a_prev) ** 0.5 * noise, denoised
