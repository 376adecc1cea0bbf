"""GANscope: see, train and teach generative adversarial networks.

    import gan
    pipe = gan.load_generator("weights/mnist-dcgan.safetensors")
    images = pipe(seeds=[1, 2], truncation=0.8)        # list of PIL images

Importing the package is cheap and silent: torch and friends load when first used.
"""
__all__ = ["load_generator", "GeneratorPipeline", "ModelConfig", "TrainConfig", "GanInputError"]


def __getattr__(name):
    if name in ("load_generator", "GeneratorPipeline"):
        from gan import pipeline
        return getattr(pipeline, name)
    if name in ("ModelConfig", "TrainConfig"):
        from gan import config
        return getattr(config, name)
    if name == "GanInputError":
        from gan.errors import GanInputError
        return GanInputError
    raise AttributeError(f"module 'gan' has no attribute {name!r}")
