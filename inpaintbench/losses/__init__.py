"""Loss terms as small modules: masked L1, perceptual, style, TV, GAN, R1, feature matching."""
