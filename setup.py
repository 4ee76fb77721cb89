"""Install stadl_plugins (``pip install -e .``; see README for the whole stack).

Like OpenMMLab packages, the package ships its configs and tools under
``stadl_plugins/.mim`` so that ``mim train stadl_plugins CONFIG`` and
``mim test stadl_plugins CONFIG --checkpoint CKPT`` find them: symlinks for an
editable install, copies when building a wheel or sdist.
"""
import os
import os.path as osp
import shutil
import sys

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def add_mim_extension():
    building = any(a in sys.argv for a in ('bdist_wheel', 'sdist', 'bdist'))
    mim_dir = osp.join(HERE, 'stadl_plugins', '.mim')
    os.makedirs(mim_dir, exist_ok=True)
    for name in ('configs', 'tools'):
        src, dst = osp.join(HERE, name), osp.join(mim_dir, name)
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if building:
            shutil.copytree(src, dst)
        else:
            os.symlink(osp.relpath(src, mim_dir), dst, target_is_directory=True)


def read_version():
    ns = {}
    with open(osp.join(HERE, 'stadl_plugins', 'version.py')) as f:
        exec(f.read(), ns)
    return ns['__version__']


if __name__ == '__main__':
    add_mim_extension()
    setup(
        name='stadl_plugins',
        version=read_version(),
        description='Spatio-temporal action detection & localization plugins '
        'for MMAction2 (HST-LSTM, VideoLSTM, ATR, RecLNet, PWC-Net flow neck)',
        long_description=open(osp.join(HERE, 'README.md')).read(),
        long_description_content_type='text/markdown',
        python_requires='>=3.11',
        packages=find_packages(exclude=('tests', 'tests.*', 'configs', 'tools')),
        include_package_data=True,
        package_data={'stadl_plugins': ['.mim/configs/**/*', '.mim/tools/**/*']},
        install_requires=[
            'torch>=2.0', 'mmengine==0.10.7', 'mmcv>=2.0.0rc4,<2.2.0',
            'mmdet>=3.0,<3.4', 'mmaction2==1.2.0', 'importlib_metadata', 'numpy',
            'scipy', 'matplotlib', 'opencv-python'
        ],
        license='Apache-2.0',
        extras_require={'tests': ['pytest', 'hypothesis', 'ruff', 'pytest-xdist']},
        zip_safe=False,
    )
