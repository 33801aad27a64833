# Runtime shared by every fashiondemo config (mmseg's default_runtime, plus our dataset registration).
default_scope = 'mmseg'
# Registers FashionpediaDataset and LimitLongSide in mmseg's registries (and the mmcv-lite stand-in).
custom_imports = dict(imports=['fashiondemo.dataset'], allow_failed_imports=False)
env_cfg = dict(
    cudnn_benchmark=True,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)
# LocalVisBackend writes WORK_DIR/<timestamp>/vis_data/scalars.json: the loss curve, one json line per log.
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='SegLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(by_epoch=False)
log_level = 'INFO'
load_from = None
resume = False
tta_model = dict(type='SegTTAModel')
