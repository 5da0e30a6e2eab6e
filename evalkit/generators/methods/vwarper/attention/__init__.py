"""V-Warper's attention behaviours: value warping, K/V replacement, reference concatenation,
RoPE-free recording, subject attention maps, and the two-branch batch layout they share."""
