"""edgeseg.quant"""
