OmegaConf = None
