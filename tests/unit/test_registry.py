import pytest

from inpaintbench.registry import Registry, UnknownNameError


def test_register_get_and_glob():
    reg: Registry = Registry("model")

    @reg.register("lama_big", paper="Suvorov 2021")
    def lama_big():
        return "big"

    reg.register("lama_fourier")(lambda: "fourier")
    assert reg.get("lama_big")() == "big"
    assert reg.entry("lama_big").meta == {"paper": "Suvorov 2021"}
    assert reg.names("lama_*") == ["lama_big", "lama_fourier"]
    assert "lama_big" in reg and len(reg) == 2


def test_unknown_name_suggests_close_matches():
    reg: Registry = Registry("model")
    reg.register("lama_big")(object)
    with pytest.raises(UnknownNameError, match=r"unknown model 'lama_bigg'; did you mean 'lama_big'"):
        reg.get("lama_bigg")


def test_double_registration_is_an_error():
    reg: Registry = Registry("metric")
    reg.register("ssim")(int)
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("ssim")(float)
