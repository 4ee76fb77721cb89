"""Model plugins (backbones, necks, RoI heads, track heads), one paper per subpackage."""
