"""MNIST's shape, the one home of the numbers every layer shares."""

NUM_CLASSES = 10  # the digits 0-9
FRAME_SIDE = 28  # images are 28x28 grey, the digit centred by mass
