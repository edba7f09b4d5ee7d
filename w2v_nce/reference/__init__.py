"""Test oracles, not used by training: TensorFlow's losses and candidate samplers in NumPy.

The public NumPy API: ``from w2v_nce.reference import nce_loss, log_uniform_candidate_sampler``.
TensorFlow's names, signatures and semantics (``docs/nce-spec.md``); the Numba kernels are
checked against these in the tests.
"""

from .tf_losses import (  # noqa: F401
    compute_sampled_logits,
    full_sigmoid_loss,
    nce_loss,
    nce_loss_grad,
    sampled_softmax_loss,
    sampled_softmax_loss_grad,
    sigmoid_cross_entropy_with_logits,
)
from .tf_samplers import (  # noqa: F401
    fixed_unigram_candidate_sampler,
    log_uniform_candidate_sampler,
    uniform_candidate_sampler,
)
