"""Abstracted gradients study (the thesis' chapter 3, Table 1): a 5-layer ReLU MLP
(784-392-196-98-49-10) trained with plain backpropagation, with its three middle layers abstracted
by the derived matrix ``M`` (eq. 5) and by the block identity ``[I 0]``, on the MNIST subset the
image example uses and on scikit-learn's digits (:mod:`.study`); :mod:`.report` writes the table.
The abstraction itself is :mod:`lava_nt.training.abstracted`. Needs the ``images`` extra.
"""
