"""MNIST's shape, the one home of the numbers every layer shares."""

NUM_CLASSES = 10  # the digits 0-9
FRAME_SIDE = 28  # images are 28x28 grey, the digit centred by mass
NOT_A_DIGIT = -1  # the label of an image that shows no digit: trained towards no class
