"""Non-learned inpainters behind the same `inpaint(image, mask)` contract."""
