"""fashiondemo: OCRNet vs SAM vs Fashionpedia ground truth, and the pipeline behind the OCRNet.

Importing the package stays light (numpy only): torch, mmseg, segment-anything and gradio are imported lazily
by the model wrappers, the CLIs and app.py.
"""

__version__ = "0.1.0"
