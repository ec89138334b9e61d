"""TFX components the framework adds to every pipeline that asks for them."""
