"""The original's optimizers: the update rules of standalone Keras 2.3.1, which the paper's code ran on.

S-CNN trains with Adam, whose Keras 3 update is Keras 2.3.1's (eps outside the square root, bias correction
folded into the step size), so Keras 3's own class is used. K-CNN trains with RMSprop, where Keras 3 puts
eps inside the square root, lr*g / sqrt(a + eps), and Keras 2.3.1 outside, lr*g / (sqrt(a) + eps): with
eps 1e-7 a weight whose gradients are below about 3e-4 in RMS moves several times less in Keras 3, which
is common in K-CNN's large Dense layer late in training. ``LegacyRMSprop`` restores Keras 2.3.1's rule.
"""
import keras
from keras import ops


class LegacyRMSprop(keras.optimizers.RMSprop):
    """RMSprop with Keras 2.3.1's update: a = rho*a + (1-rho)*g^2; p -= lr*g / (sqrt(a) + eps).

    No momentum, not centered (Keras 2.3.1's RMSprop had neither); written with keras.ops, so it runs
    on every Keras backend.
    """

    def __init__(self, learning_rate=1e-3, rho=0.9, epsilon=1e-7, name="legacy_rmsprop", **kwargs):
        super().__init__(learning_rate=learning_rate, rho=rho, epsilon=epsilon, name=name, **kwargs)

    def update_step(self, gradient, variable, learning_rate):
        """Apply one Keras 2.3.1 RMSprop update of ``variable``."""
        lr = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        velocity = self._velocities[self._get_variable_index(variable)]
        self.assign(velocity, ops.add(ops.multiply(self.rho, velocity),
                                      ops.multiply(1 - self.rho, ops.square(gradient))))
        self.assign_sub(variable, ops.divide(ops.multiply(lr, gradient), ops.add(ops.sqrt(velocity), self.epsilon)))

    def get_config(self):
        """Return the config without the momentum and centered options this rule does not have."""
        config = super().get_config()
        del config["momentum"], config["centered"]
        return config


def original_optimizer(network):
    """Return the paper's optimizer for 'SCNN' (Adam, lr 1e-3) or 'KCNN' (RMSprop, lr 1e-4), each with
    Keras 2.3.1's defaults (Adam beta 0.9 / 0.999, RMSprop rho 0.9, eps 1e-7) and update rule."""
    if network == "SCNN":
        return keras.optimizers.Adam(learning_rate=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7)
    return LegacyRMSprop(learning_rate=1e-4, rho=0.9, epsilon=1e-7)
