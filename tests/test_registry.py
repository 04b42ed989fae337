import pytest

from ganbench.config import make_config
from ganbench.errors import UserError
from ganbench.registry import Registry


def test_unknown_name_lists_valid_names():
    reg = Registry("widget")
    reg.add("alpha", lambda a=1: a, "first")
    reg.add("beta", lambda b=2: b, "second")
    with pytest.raises(UserError) as exc:
        reg.get("alpah")
    msg = str(exc.value)
    assert "unknown widget 'alpah'" in msg and "did you mean alpha" in msg and "valid: alpha, beta" in msg


def test_duplicate_and_malformed_names_are_rejected():
    reg = Registry("widget")
    reg.add("alpha", lambda: 1)
    with pytest.raises(ValueError, match="already registered"):
        reg.add("alpha", lambda: 2)
    with pytest.raises(ValueError, match="bad widget name"):
        reg.add("Bad Name", lambda: 3)


def test_options_come_from_the_signature():
    reg = Registry("widget", positional=1)

    def make(shape, width: int = 4, mode: str = "a"):
        """A widget."""
        return shape, width, mode

    reg.add("w", make)
    entry = reg.get("w")
    assert entry.description == "A widget."
    assert entry.build((1,), width=8) == ((1,), 8, "a")
    with pytest.raises(UserError, match="unknown key 'w.widht'"):
        entry.build((1,), widht=8)
    with pytest.raises(UserError, match="bad value for 'w.width'"):
        entry.build((1,), width="wide")


def test_config_fills_component_defaults():
    cfg = make_config({"data": "digits", "generator": "dcgan", "discriminator": {"name": "dcgan", "norm": "spectral"}})
    assert cfg.generator == {"name": "dcgan", "width": 64, "norm": "batch", "attention": 0, "bias_before_norm": True,
                             "kernel": 4, "stages": 0}
    assert cfg.discriminator["norm"] == "spectral"
    assert cfg.z_dim == 32  # the dataset's suggestion


@pytest.mark.parametrize("tree, message", [
    ({"stepz": 10}, "unknown key 'stepz'"),
    ({"steps": "many"}, "bad value for 'steps'"),
    ({"loss": "hinj"}, "unknown loss 'hinj' (did you mean hinge?)"),
    ({"discriminator": {"name": "dcgan", "norm": "weird"}}, "bad value for 'discriminator.norm'"),
    ({"regularizers": [{"name": "gp", "wieght": 1}]}, "unknown key 'regularizers[0].wieght'"),
    ({"batch_size": 10, "pack": 4}, "not a multiple of pack"),
])
def test_bad_config_gives_one_clear_line(tree, message):
    with pytest.raises(UserError) as exc:
        make_config(tree)
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)


def test_digest_ignores_presentation_only_keys():
    a = make_config({"steps": 10})
    assert a.digest() == make_config({"steps": 10, "log_every": 3, "tensorboard": True}).digest()
    assert a.digest() != make_config({"steps": 11}).digest()


def test_annotated_option_constraints_are_kept():
    """An option's own Annotated constraints apply in full (test_fraction < 1, not only >= 0)."""
    from ganbench.config import make_config

    for bad in (-0.5, 1.0, 1.5):
        with pytest.raises(UserError, match="test_fraction"):
            make_config({"data": {"name": "npz", "path": "x.npz", "test_fraction": bad}})



@pytest.mark.parametrize("spec, tree, message", [
    (False, {"stesp": 5}, "unknown key 'stesp' (did you mean steps?)"),
    (False, {"generator": {"name": "mlp", "hiden": 3}}, "unknown key 'generator.hiden' (did you mean hidden?)"),
    (False, {"regularizers": [{"name": "gp", "wieght": 1}]}, "unknown key 'regularizers[0].wieght' (did you mean weight?)"),
    (False, {"zzzzzz": 1}, "unknown key 'zzzzzz'; valid keys: amp, augment, batch_size,"),
    (False, {"loss": {"name": "hinge", "margin": 2}}, "unknown key 'loss.margin' (loss 'hinge' takes no options)"),
    (True, {"name": "x", "seed": 3}, "s.yaml: unknown key 'seed' (did you mean seeds"),
    (True, {"name": "x", "budget": {"step": 10}}, "s.yaml: unknown key 'budget.step' (did you mean steps?)"),
    (True, {"name": "x", "eval": {"evry": 10}}, "s.yaml: unknown key 'eval.evry' (did you mean every?)"),
])
def test_an_unknown_key_says_what_was_expected(spec, tree, message):
    """README: unknown keys are refused with one line that names the key and what was expected: the close
    valid keys, or all of them when none is close (as an unknown component name is)."""
    from ganbench.study.spec import spec_of

    with pytest.raises(UserError) as exc:
        spec_of(tree, "s.yaml") if spec else make_config(tree)
    assert message in str(exc.value) and "\n" not in str(exc.value)


@pytest.mark.parametrize("tree, message", [
    ({"name": "x", "seeds": "three"}, "s.yaml: bad value for 'seeds': should be int or list[int] (got 'three')"),
    ({"name": "x", "datasets": [3]}, "s.yaml: bad value for 'datasets.0': should be str or dict[str,any] (got 3)"),
    ({"name": "x", "variants": {"a": 3, "b": 4}}, "s.yaml: bad value for 'variants.a': input should be a valid dictionary"),
])
def test_a_value_of_the_wrong_type_names_the_key_not_pydantic_s_union_branch(tree, message):
    """A key that takes one of several types (seeds: a count or a list) is named as written in the file, with
    the types it takes; it read 'seeds.int', a key no spec has, and only the first type."""
    from ganbench.study.spec import spec_of

    with pytest.raises(UserError) as exc:
        spec_of(tree, "s.yaml")
    assert message in str(exc.value) and "\n" not in str(exc.value)
